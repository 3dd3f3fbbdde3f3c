"""The emulated Identity API (IDSync): identify, search, login, logout and modify.

It authenticates as mParticle documents: HMAC digest (checked here from the documented
algorithm, independently of the client's signer), Basic, or the key alone when switched on
(``state.identity.key_only_enabled``). Users are found by customer id first, then email, then
the other identity types in documented order; a new user's MPID is derived from its
identities, so the same identities get the same MPID on every run.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ..hosts import Hosts
from ..protocol import ENVIRONMENTS, IDENTITY_PATH, IDENTITY_TYPES
from .replies import FAULTS, STATE, Rejected, error_reply, json_reply, reject
from .state import EmulatorState, IdentityState

__all__ = ["IDENTITY_PREFIX", "add_routes", "expected_signature", "parse_date"]

#: Where the emulator serves the Identity API: under the prefix ``Hosts.local`` gives it.
IDENTITY_PREFIX = urlsplit(Hosts.local("http://emulator").identity).path + IDENTITY_PATH

_ISO_8601_BASIC = re.compile(r"\d{8}T\d{6}Z")

# The emulator's identity strategy: which identity a user is looked up by first.
_LOOKUP_ORDER = (
    "customerid",
    "email",
    *(t for t in IDENTITY_TYPES if t not in ("customerid", "email")),
)

Handler = Callable[[web.Request, EmulatorState, dict[str, Any]], web.Response]


def parse_date(value: str) -> datetime | None:
    """A ``Date`` header as an aware datetime, from ISO 8601 basic or RFC 1123; else None."""
    text = value.strip()
    if _ISO_8601_BASIC.fullmatch(text):
        try:
            return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            return None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def expected_signature(secret: str, method: str, date: str, path: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256, keyed with the UTF-8 secret, of ``METHOD\\nDATE\\nPATH`` + body."""
    message = f"{method}\n{date}\n{path}".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    # Constant time, and on bytes: compare_digest refuses str with non-ASCII characters.
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def _unauthorized(message: str) -> Rejected:
    return reject(401, "UNAUTHORIZED", message)


def _bad_request(message: str) -> Rejected:
    return reject(400, "BAD_REQUEST", message)


def _authenticate(request: web.Request, state: EmulatorState, body: bytes) -> None:
    """Return if the request carries valid Identity API credentials; raise the 401 if not."""
    headers = request.headers
    key = headers.get("x-mp-key")
    signature = headers.get("x-mp-signature")
    authorization = headers.get("Authorization")
    if signature is not None:
        _check_signature(request, state, key, signature, body)
    elif authorization is not None:
        _check_basic(state, authorization)
    elif key is not None:
        if not state.identity.key_only_enabled:
            raise _unauthorized("key-only access is not enabled for this API key")
        if not _same(key, state.api_key):
            raise _unauthorized("unknown API key")
    else:
        raise _unauthorized(
            "credentials are required: HMAC digest (x-mp-key, Date, x-mp-signature) or Basic"
        )


def _check_signature(
    request: web.Request, state: EmulatorState, key: str | None, signature: str, body: bytes
) -> None:
    if key is None or not _same(key, state.api_key):
        raise _unauthorized("unknown API key")
    date = request.headers.get("Date", "")
    when = parse_date(date)
    if when is None:
        raise _unauthorized("the Date header is missing, or neither ISO 8601 basic nor RFC 1123")
    skew = abs(time.time() - when.timestamp())
    limit = state.identity.max_clock_skew
    if skew > limit:
        raise _unauthorized(f"the Date header is {skew:.0f} s off; at most {limit:.0f} s allowed")
    # The path with its query, as received: what mParticle's mobile SDKs sign (Android signs
    # URL.getFile(), Apple appends "?" + query).
    path = request.raw_path
    expected = expected_signature(state.api_secret, request.method, date, path, body)
    if not _same(signature, expected):
        raise _unauthorized("the signature does not match the request")
    state.identity.signed_requests.append((date, signature))


def _check_basic(state: EmulatorState, authorization: str) -> None:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise _unauthorized("the Identity API takes Basic or HMAC digest credentials")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized("the Basic credentials are not base64 of key:secret") from None
    key, _, secret = decoded.partition(":")
    # Both compared, so a wrong key takes as long to reject as a wrong secret.
    key_ok = _same(key, state.api_key)
    secret_ok = _same(secret, state.api_secret)
    if not (key_ok and secret_ok):
        raise _unauthorized("unknown API key or wrong secret")


def _endpoint(handle: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A route handler: authenticate, read the JSON body and its environment, then ``handle``.

    A ``Rejected`` raised on the way (or by ``handle``) is answered by the app's middleware.
    """

    @functools.wraps(handle)
    async def endpoint(request: web.Request) -> web.Response:
        state = request.app[STATE]
        body = await request.read()
        _authenticate(request, state, body)
        # Throttled only after the credentials were checked (and a signature recorded), so
        # a test can see every attempt of a retried request.
        faults = request.app[FAULTS]
        if faults.identity_throttle_next > 0:
            faults.identity_throttle_next -= 1
            return error_reply(
                429, "TOO_MANY_REQUESTS", "rate limit exceeded", headers={"Retry-After": "1"}
            )
        try:
            document = json.loads(body)
        except ValueError:
            raise _bad_request("the body is not valid JSON") from None
        if not isinstance(document, dict):
            raise _bad_request("the body must be a JSON object")
        if document.get("environment") not in ENVIRONMENTS:
            raise _bad_request(f"environment is required: one of {', '.join(ENVIRONMENTS)}")
        return handle(request, state, document)

    return endpoint


def _known_identities(document: dict[str, Any]) -> dict[str, str]:
    known = document.get("known_identities")
    if not isinstance(known, dict) or not known:
        raise _bad_request("known_identities must hold at least one identity")
    for identity_type, value in known.items():
        if identity_type not in IDENTITY_TYPES:
            raise _bad_request(f"{identity_type!r} is not an identity type")
        if not isinstance(value, str) or not value:
            raise _bad_request(f"known_identities[{identity_type!r}] must be a non-empty string")
    # The identity Swagger spec types previous_mpid as a string (what this client sends);
    # mParticle's Android SDK sends a JSON number. Both are taken.
    previous = document.get("previous_mpid")
    as_number = isinstance(previous, int) and not isinstance(previous, bool)
    as_text = isinstance(previous, str) and previous.lstrip("-").isdigit()
    if previous is not None and not (as_number or as_text):
        raise _bad_request("previous_mpid must be an MPID (a string of digits or a number)")
    return known


def _lookup(users: IdentityState, known: dict[str, str]) -> tuple[int | None, dict[str, str]]:
    """The user the identities resolve to, and which of them are that user's."""
    for identity_type in _LOOKUP_ORDER:
        value = known.get(identity_type)
        mpid = users.index.get((identity_type, value)) if value is not None else None
        if mpid is not None:
            matched = {t: v for t, v in known.items() if users.index.get((t, v)) == mpid}
            return mpid, matched
    return None, {}


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


def _result(request: web.Request, mpid: int, matched: dict[str, str]) -> web.Response:
    # The MPID goes out as a string, as mParticle sends it: it does not survive a JSON double.
    document: dict[str, Any] = {"mpid": str(mpid), "context": None, "is_ephemeral": False}
    if _flag(request, "return_matches"):
        document["matched_identities"] = matched
    return json_reply(document)


def _identify(request: web.Request, state: EmulatorState, document: dict[str, Any]) -> web.Response:
    """identify, login and logout: the user these identities belong to, created if new."""
    known = _known_identities(document)
    users = state.identity
    read_only = _flag(request, "read_only")
    mpid, matched = _lookup(users, known)
    if mpid is None:
        mpid = users.stable_mpid(known)
        if not read_only:
            users.add_user(known, mpid)
    elif not read_only:
        # Identities nobody has yet join the user they were sent with.
        user = users.users[mpid]
        for identity_type, value in known.items():
            if identity_type not in user and (identity_type, value) not in users.index:
                users.set_identity(mpid, identity_type, value)
    return _result(request, mpid, matched)


def _search(request: web.Request, state: EmulatorState, document: dict[str, Any]) -> web.Response:
    """search: the existing user these identities belong to; never creates one."""
    mpid, matched = _lookup(state.identity, _known_identities(document))
    if mpid is None:
        return error_reply(404, "NOT_FOUND", "no user matches the identities given")
    return _result(request, mpid, matched)


def _modify(request: web.Request, state: EmulatorState, document: dict[str, Any]) -> web.Response:
    """modify: apply every identity change to the user, or none if one is invalid."""
    users = state.identity
    try:
        mpid = int(request.match_info["mpid"])
    except ValueError:
        return error_reply(400, "BAD_REQUEST", "the MPID is not an integer")
    if mpid not in users.users:
        return error_reply(404, "NOT_FOUND", f"no user with MPID {mpid}")
    changes = document.get("identity_changes")
    if not isinstance(changes, list) or not changes:
        return error_reply(400, "BAD_REQUEST", "identity_changes must hold at least one change")
    after = dict(users.users[mpid])
    for change in changes:
        if not isinstance(change, dict) or change.get("identity_type") not in IDENTITY_TYPES:
            return error_reply(400, "BAD_REQUEST", "each change needs a documented identity_type")
        identity_type = change["identity_type"]
        old, new = change.get("old_value"), change.get("new_value")
        if not all(v is None or (isinstance(v, str) and v) for v in (old, new)) or old == new:
            return error_reply(
                400, "BAD_REQUEST", f"{identity_type}: old_value and new_value must differ"
            )
        if after.get(identity_type) != old:
            return error_reply(
                400, "BAD_REQUEST", f"{identity_type}: old_value is not the user's current value"
            )
        owner = users.index.get((identity_type, new)) if new is not None else None
        if owner is not None and owner != mpid:
            return error_reply(
                400, "BAD_REQUEST", f"{identity_type}: that value belongs to another user"
            )
        if new is None:
            after.pop(identity_type, None)
        else:
            after[identity_type] = new
    for identity_type in {*users.users[mpid], *after}:
        if users.users[mpid].get(identity_type) != after.get(identity_type):
            users.set_identity(mpid, identity_type, after.get(identity_type))
    # The reply's shape is inferred: the Swagger spec gives it no fields; the mobile SDKs
    # read a change_results list.
    results = [{"identity_type": c["identity_type"], "modified_mpid": str(mpid)} for c in changes]
    return json_reply({"change_results": results})


def add_routes(app: web.Application) -> None:
    """Register the Identity API's routes."""
    identify = _endpoint(_identify)
    for call in ("identify", "login", "logout"):
        app.router.add_post(f"{IDENTITY_PREFIX}/{call}", identify, name=f"identity.{call}")
    app.router.add_post(f"{IDENTITY_PREFIX}/search", _endpoint(_search), name="identity.search")
    app.router.add_post(
        f"{IDENTITY_PREFIX}/{{mpid}}/modify", _endpoint(_modify), name="identity.modify"
    )

"""The Identity API's values: requests' parts checked and built, replies decoded.

Identity types, environments and the ``client_sdk`` keys follow mParticle's identity Swagger
file and SDKs (the facts and their sources are in ``mp_async/protocol.py``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from ..converter import document_excerpt, structure
from ..errors import InvalidRequest, UnexpectedResponse
from ..protocol import ENVIRONMENTS, IDENTITY_SPELLINGS, IDENTITY_TYPES
from ..request import Response
from .mpid import mpid_from_text

__all__ = [
    "CLIENT_SDK_FIELDS",
    "IdentityChange",
    "IdentityResult",
    "ModifyResult",
    "base_body",
    "decode_result",
    "identity_query",
    "modify_result",
    "validate_identities",
]


#: The keys a ``client_sdk`` object may carry.
CLIENT_SDK_FIELDS = ("platform", "sdk_vendor", "sdk_version")

_ALLOWED_TYPES = ", ".join(IDENTITY_TYPES)


@attrs.frozen
class IdentityResult:
    """The user an identify, search, login or logout resolved to.

    The wire carries ``mpid`` as a string (it does not fit a JSON double); here it is an int.
    ``matched_identities`` is filled in when the request asked for ``return_matches``.
    """

    mpid: int
    context: str | None = None
    matched_identities: dict[str, str] = attrs.field(factory=dict)
    is_ephemeral: bool = False
    is_logged_in: bool = False


def _unknown_type(where: str, identity_type: object) -> InvalidRequest:
    """The error for an identity type the Identity API does not take, naming its spelling."""
    right = IDENTITY_SPELLINGS.get(identity_type) if isinstance(identity_type, str) else None
    if right is not None:
        return InvalidRequest(
            f"{where}: {identity_type!r} is the Events API's spelling; the Identity API "
            f"spells it {right!r}"
        )
    return InvalidRequest(
        f"{where}: {identity_type!r} is not a documented identity type; allowed: {_ALLOWED_TYPES}"
    )


@attrs.frozen
class ModifyResult:
    """What a ``modify`` reply said.

    The identity Swagger spec gives the reply no fields; mParticle's mobile SDKs read a
    ``change_results`` list from it. Those entries are kept as sent, and the whole reply in
    ``reply``, so nothing the server says is lost.
    """

    change_results: tuple[dict[str, Any], ...] = ()
    reply: dict[str, Any] = attrs.field(factory=dict, repr=False)


def modify_result(response: Response) -> ModifyResult:
    if not response.body.strip():
        return ModifyResult()
    document = response.json()
    if not isinstance(document, dict):
        raise response.unexpected("a modify reply must be a JSON object")
    changes = document.get("change_results") or []
    if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
        raise response.unexpected("change_results must be a list of objects")
    return ModifyResult(tuple(changes), document)


def _identity_type(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in IDENTITY_TYPES:
        raise _unknown_type("IdentityChange.identity_type", value)


def _optional_value(
    instance: object, attribute: attrs.Attribute[str | None], value: object
) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidRequest(
            f"IdentityChange.{attribute.name} must be a non-empty string or None, got {value!r}"
        )


@attrs.frozen
class IdentityChange:
    """One identity change for ``modify``.

    ``old_value=None`` adds the identity, ``new_value=None`` removes it, both set replace it.
    """

    identity_type: str = attrs.field(validator=_identity_type)
    old_value: str | None = attrs.field(default=None, validator=_optional_value)
    new_value: str | None = attrs.field(default=None, validator=_optional_value)

    def __attrs_post_init__(self) -> None:
        if self.old_value is None and self.new_value is None:
            raise InvalidRequest(
                f"IdentityChange({self.identity_type!r}): give old_value, new_value or both "
                "(None for one of them means add or remove)"
            )
        if self.old_value == self.new_value:
            raise InvalidRequest(
                f"IdentityChange({self.identity_type!r}): old_value and new_value are the same"
            )


def validate_identities(
    known_identities: Mapping[str, str] | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``known_identities`` merged with ``extra``, checked against the documented types."""
    if known_identities is not None and not isinstance(known_identities, Mapping):
        raise InvalidRequest(
            "known_identities must be a mapping of identity type to value, got "
            f"{type(known_identities).__name__}"
        )
    merged = dict(known_identities or {})
    for identity_type, value in (extra or {}).items():
        if identity_type in merged and merged[identity_type] != value:
            raise InvalidRequest(
                f"known_identities: {identity_type!r} is given twice with different values"
            )
        merged[identity_type] = value
    if not merged:
        raise InvalidRequest(
            f"known_identities must hold at least one identity; allowed types: {_ALLOWED_TYPES}"
        )
    for identity_type, value in merged.items():
        if identity_type not in IDENTITY_TYPES:
            raise _unknown_type("known_identities", identity_type)
        if not isinstance(value, str) or not value:
            raise InvalidRequest(
                f"known_identities[{identity_type!r}] must be a non-empty string, got {value!r}"
            )
    return merged


def _environment(environment: object) -> str:
    if environment not in ENVIRONMENTS:
        raise InvalidRequest(
            f"environment must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}"
        )
    return str(environment)


def base_body(
    *,
    environment: str,
    context: str | None = None,
    client_sdk: Mapping[str, str] | None = None,
    request_id: str | None = None,
    request_timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """The fields every Identity request carries; a request id and timestamp when not given."""
    body: dict[str, Any] = {"environment": _environment(environment)}
    if request_id is None:
        request_id = str(uuid.uuid4())
    elif not isinstance(request_id, str) or not request_id:
        raise InvalidRequest(f"request_id must be a non-empty string, got {request_id!r}")
    if request_timestamp_ms is None:
        request_timestamp_ms = int(time.time() * 1000)
    elif (
        isinstance(request_timestamp_ms, bool)
        or not isinstance(request_timestamp_ms, int)
        or request_timestamp_ms < 0
    ):
        raise InvalidRequest(
            "request_timestamp_ms must be a non-negative integer (milliseconds since the "
            f"epoch), got {request_timestamp_ms!r}"
        )
    body["request_id"] = request_id
    body["request_timestamp_ms"] = request_timestamp_ms
    if context is not None:
        if not isinstance(context, str):
            raise InvalidRequest(f"context must be a string, got {type(context).__name__}")
        body["context"] = context
    if client_sdk is not None:
        body["client_sdk"] = _client_sdk(client_sdk)
    return body


def _client_sdk(client_sdk: object) -> dict[str, str]:
    if not isinstance(client_sdk, Mapping):
        raise InvalidRequest(
            f"client_sdk must be a mapping with keys among {', '.join(CLIENT_SDK_FIELDS)}"
        )
    for key, value in client_sdk.items():
        if key not in CLIENT_SDK_FIELDS:
            raise InvalidRequest(
                f"client_sdk: {key!r} is not a field; allowed: {', '.join(CLIENT_SDK_FIELDS)}"
            )
        if not isinstance(value, str):
            raise InvalidRequest(f"client_sdk[{key!r}] must be a string, got {value!r}")
    return dict(client_sdk)


def identity_query(read_only: bool, return_matches: bool) -> dict[str, str] | None:
    for name, flag in (("read_only", read_only), ("return_matches", return_matches)):
        # A string such as "false" is truthy: only a real bool says what the caller meant.
        if not isinstance(flag, bool):
            raise InvalidRequest(f"{name} must be True or False, got {flag!r}")
    params = {}
    if read_only:
        params["read_only"] = "true"
    if return_matches:
        params["return_matches"] = "true"
    return params or None


def decode_result(document: Any, *, method: str = "POST", path: str = "") -> IdentityResult:
    """An ``IdentityResult`` from a reply document, its string ``mpid`` read as an int."""
    if not isinstance(document, dict):
        raise UnexpectedResponse(
            f"{method} {path}: the reply is not a JSON object",
            status=200,
            method=method,
            path=path,
            body_excerpt=document_excerpt(document),
        )
    mpid = document.get("mpid")
    if isinstance(mpid, str) and (parsed := mpid_from_text(mpid)) is not None:
        value = parsed
    elif isinstance(mpid, int) and not isinstance(mpid, bool):
        value = mpid
    else:
        raise UnexpectedResponse(
            f"{method} {path}: the reply has no usable mpid (got {document_excerpt(mpid)})"[:400],
            status=200,
            method=method,
            path=path,
            body_excerpt=document_excerpt(document),
        )
    fields = {**document, "mpid": value}
    if fields.get("matched_identities") is None:
        fields["matched_identities"] = {}
    return structure(fields, IdentityResult, method=method, path=path)

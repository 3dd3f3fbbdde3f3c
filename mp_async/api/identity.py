"""The Identity API (IDSync): turn what is known about a person into an mParticle ID.

``POST /v1/identify``, ``/v1/search``, ``/v1/login``, ``/v1/logout`` and
``/v1/{mpid}/modify`` under ``Hosts.identity``, authenticated with HMAC digest (recommended),
Basic, or the key alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..auth.base import AuthStrategy
from ..errors import InvalidRequest, NotFound, NoUserMatched
from ..hosts import Hosts
from ..protocol import IDENTITY_PATH
from ..request import Request, Response
from ..session import Session
from ._base import APIBase
from .identity_models import (
    CLIENT_SDK_FIELDS,
    IdentityChange,
    IdentityResult,
    ModifyResult,
    base_body,
    decode_result,
    identity_query,
    modify_result,
    validate_identities,
)
from .mpid import validate_mpid

__all__ = [
    "CLIENT_SDK_FIELDS",
    "IdentityAPI",
    "IdentityChange",
    "IdentityResult",
    "ModifyResult",
    "decode_result",
    "validate_identities",
]


class IdentityAPI(APIBase):
    """The Identity API: ``identify``, ``search``, ``login``, ``logout`` and ``modify``.

    ``auth`` is ``HmacDigestAuth`` (what mParticle asks every client to use), ``BasicAuth``
    or ``ApiKeyAuth``. Identities are given as a mapping (``{"email": "a@example.com"}``),
    as keywords (``email="a@example.com"``), or both. ``read_only`` and ``return_matches``
    are the documented query parameters of identify, login and logout.
    """

    needs = "Identity API needs credentials: pass identity_auth=HmacDigestAuth(api_key, api_secret)"

    def __init__(
        self, session: Session, auth: AuthStrategy | None, hosts: Hosts | None = None
    ) -> None:
        super().__init__(session, auth, hosts)
        self._base = f"{self.hosts.identity}{IDENTITY_PATH}"

    async def identify(
        self,
        known_identities: Mapping[str, str] | None = None,
        *,
        environment: str = "production",
        previous_mpid: int | str | None = None,
        context: str | None = None,
        client_sdk: Mapping[str, str] | None = None,
        request_id: str | None = None,
        request_timestamp_ms: int | None = None,
        read_only: bool = False,
        return_matches: bool = False,
        **identities: str,
    ) -> IdentityResult:
        """The user these identities belong to, created if there is none."""
        response = await self._post(
            "identify",
            known_identities,
            identities,
            environment=environment,
            previous_mpid=previous_mpid,
            context=context,
            client_sdk=client_sdk,
            request_id=request_id,
            request_timestamp_ms=request_timestamp_ms,
            params=identity_query(read_only, return_matches),
        )
        return decode_result(response.json(), path=response.path)

    async def login(
        self,
        known_identities: Mapping[str, str] | None = None,
        *,
        environment: str = "production",
        previous_mpid: int | str | None = None,
        context: str | None = None,
        client_sdk: Mapping[str, str] | None = None,
        request_id: str | None = None,
        request_timestamp_ms: int | None = None,
        read_only: bool = False,
        return_matches: bool = False,
        **identities: str,
    ) -> IdentityResult:
        """The user who logs in with these identities, coming from ``previous_mpid``."""
        response = await self._post(
            "login",
            known_identities,
            identities,
            environment=environment,
            previous_mpid=previous_mpid,
            context=context,
            client_sdk=client_sdk,
            request_id=request_id,
            request_timestamp_ms=request_timestamp_ms,
            params=identity_query(read_only, return_matches),
        )
        return decode_result(response.json(), path=response.path)

    async def logout(
        self,
        known_identities: Mapping[str, str] | None = None,
        *,
        environment: str = "production",
        previous_mpid: int | str | None = None,
        context: str | None = None,
        client_sdk: Mapping[str, str] | None = None,
        request_id: str | None = None,
        request_timestamp_ms: int | None = None,
        read_only: bool = False,
        return_matches: bool = False,
        **identities: str,
    ) -> IdentityResult:
        """The user left after logging out (usually known by device identities alone)."""
        response = await self._post(
            "logout",
            known_identities,
            identities,
            environment=environment,
            previous_mpid=previous_mpid,
            context=context,
            client_sdk=client_sdk,
            request_id=request_id,
            request_timestamp_ms=request_timestamp_ms,
            params=identity_query(read_only, return_matches),
        )
        return decode_result(response.json(), path=response.path)

    async def search(
        self,
        known_identities: Mapping[str, str] | None = None,
        *,
        environment: str = "production",
        context: str | None = None,
        client_sdk: Mapping[str, str] | None = None,
        request_id: str | None = None,
        request_timestamp_ms: int | None = None,
        **identities: str,
    ) -> IdentityResult:
        """The existing user these identities belong to; ``NoUserMatched`` if there is none.

        Unlike ``identify``, a search never creates a user.
        """
        try:
            response = await self._post(
                "search",
                known_identities,
                identities,
                environment=environment,
                context=context,
                client_sdk=client_sdk,
                request_id=request_id,
                request_timestamp_ms=request_timestamp_ms,
            )
        except NotFound as exc:
            raise NoUserMatched(
                f"{exc} (no user matched the identities given)",
                status=exc.status,
                method=exc.method,
                path=exc.path,
                errors=exc.errors,
                body_excerpt=exc.body_excerpt,
            ) from None
        document = response.json()
        if isinstance(document, dict) and "mpid" in document and document["mpid"] in (None, ""):
            # Whether mParticle answers a search that matched nobody with a 404 or with an
            # empty mpid is not documented; to the caller both mean the same.
            raise NoUserMatched(
                f"POST {response.path} -> {response.status}: no user matched the identities given",
                status=response.status,
                method="POST",
                path=response.path,
            )
        return decode_result(document, path=response.path)

    async def modify(
        self,
        mpid: int | str,
        changes: IdentityChange | Iterable[IdentityChange],
        *,
        environment: str = "production",
        context: str | None = None,
        client_sdk: Mapping[str, str] | None = None,
        request_id: str | None = None,
        request_timestamp_ms: int | None = None,
    ) -> ModifyResult:
        """Add, change or remove identities of the user ``mpid``; returns what the reply said."""
        auth = self._credentials()
        mpid_value = validate_mpid(mpid)
        if isinstance(changes, IdentityChange):
            chosen: tuple[object, ...] = (changes,)
        elif isinstance(changes, Iterable) and not isinstance(changes, (str, bytes, Mapping)):
            chosen = tuple(changes)
        else:
            raise InvalidRequest(
                f"changes must be an IdentityChange or a list of them, got {type(changes).__name__}"
            )
        if not chosen:
            raise InvalidRequest("changes must hold at least one IdentityChange")
        checked: list[IdentityChange] = []
        for change in chosen:
            if not isinstance(change, IdentityChange):
                raise InvalidRequest(
                    f"changes must be IdentityChange values, got {type(change).__name__}"
                )
            checked.append(change)
        body = base_body(
            environment=environment,
            context=context,
            client_sdk=client_sdk,
            request_id=request_id,
            request_timestamp_ms=request_timestamp_ms,
        )
        # null is meaningful here (add or remove), so both values are always sent.
        body["identity_changes"] = [
            {
                "old_value": change.old_value,
                "new_value": change.new_value,
                "identity_type": change.identity_type,
            }
            for change in checked
        ]
        request = Request.json("POST", f"{self._base}/{mpid_value}/modify", body, bucket="identity")
        return modify_result(await self._send(request, auth))

    async def _post(
        self,
        call: str,
        known_identities: Mapping[str, str] | None,
        identities: Mapping[str, str],
        *,
        environment: str,
        context: str | None,
        client_sdk: Mapping[str, str] | None,
        request_id: str | None,
        request_timestamp_ms: int | None,
        previous_mpid: int | str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Response:
        """Validate, build and send one of identify, login, logout and search."""
        auth = self._credentials()
        body = base_body(
            environment=environment,
            context=context,
            client_sdk=client_sdk,
            request_id=request_id,
            request_timestamp_ms=request_timestamp_ms,
        )
        if previous_mpid is not None:
            try:
                body["previous_mpid"] = str(validate_mpid(previous_mpid))
            except InvalidRequest as exc:
                raise InvalidRequest(f"previous_mpid: {exc}") from None
        body["known_identities"] = validate_identities(known_identities, identities)
        # identify/search/login/logout resolve identities to a user: repeated, they resolve
        # to the same one (modify, which changes identities, is not retried this way).
        request = Request.json(
            "POST", f"{self._base}/{call}", body, params=params, bucket="identity", idempotent=True
        )
        return await self._send(request, auth)

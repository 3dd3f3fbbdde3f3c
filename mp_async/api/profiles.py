"""The Profile API: look a user's profile up by MPID, or resolve it from an identity."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Mapping
from typing import Any, Literal, TypeAlias

import attrs
from yarl import URL

from ..auth.base import AuthStrategy
from ..converter import FastDecoder, converter, structure
from ..errors import InvalidRequest, MParticleError
from ..fanout import bounded_map
from ..hosts import Hosts, Workspace
from ..protocol import ENVIRONMENTS, PROFILE_FIELDS, PROFILE_PATH, PROFILE_RESOLVE_SPELLINGS
from ..request import Request, Response
from ..session import Session
from ._base import APIBase
from .mpid import validate_mpid

__all__ = [
    "Attribution",
    "AudienceMembership",
    "Identity",
    "Profile",
    "ProfileAPI",
    "ProfileFailed",
    "ProfileFound",
    "ProfileResult",
]


@attrs.frozen
class Identity:
    """One device or user identity on a profile."""

    type: str
    value: str | None = None
    encoding: str = "none"


@attrs.frozen
class AudienceMembership:
    """An audience the user belongs to."""

    audience_id: int
    audience_name: str | None = None
    public_audience_name: str | None = None
    expiration_timestamp_ms: int | None = None


@attrs.frozen
class Attribution:
    """An attribution record of the user (install or campaign)."""

    campaign: str | None = None
    campaign_id: str | None = None
    publisher: str | None = None
    publisher_id: str | None = None
    timestamp_ms: int | None = None


@attrs.frozen
class Profile:
    """A user profile as the Profile API returns it; parts not asked for stay empty."""

    mpid: int
    device_identities: tuple[Identity, ...] = ()
    user_identities: tuple[Identity, ...] = ()
    user_attributes: dict[str, Any] = attrs.field(factory=dict)
    audience_memberships: tuple[AudienceMembership, ...] = ()
    attribution: tuple[Attribution, ...] = ()
    created_timestamp_ms: int | None = None
    last_stored_timestamp_ms: int | None = None
    is_opted_out: bool | None = None
    limit_ad_tracking: bool | None = None
    #: The documented example reply spells it ``account_userattributes``; both spellings are read.
    account_user_attributes: dict[str, Any] | None = None

    def identity(self, identity_type: str) -> str | None:
        """The value of the user or device identity of ``identity_type``, if the profile has one."""
        for identity in (*self.user_identities, *self.device_identities):
            if identity.type == identity_type:
                return identity.value
        return None


_structure_profile = converter.gen_structure_attrs_fromdict(Profile)


def _profile_from_reply(document: Any, _: Any) -> Profile:
    if isinstance(document, dict) and "account_userattributes" in document:
        document = {"account_user_attributes": document["account_userattributes"], **document}
    return _structure_profile(document, Profile)


converter.register_structure_hook(Profile, _profile_from_reply)

_fast_profile = FastDecoder(Profile)


def _decode_profile(response: Response) -> Profile:
    """The reply's ``Profile``: msgspec's way when it takes the reply as it is, else cattrs'."""
    body = response.body
    # The documented spelling "account_userattributes" is the converter's to translate (and a
    # key can be spelt with \u escapes, which only a parser sees through).
    if b"account_userattributes" not in body and b"\\u" not in body:
        profile = _fast_profile.decode(body)
        if profile is not None:
            return profile
    return structure(response.json(), Profile, method=response.method, path=response.path)


@attrs.frozen
class ProfileFound:
    """A lookup of ``get_many`` that returned the ``profile`` of ``mpid`` (``ok`` is True)."""

    mpid: int | str
    profile: Profile
    error: None = None
    ok: Literal[True] = attrs.field(default=True, init=False)


@attrs.frozen
class ProfileFailed:
    """A lookup of ``get_many`` that failed with ``error`` (``ok`` is False, no ``profile``)."""

    mpid: int | str
    error: MParticleError
    profile: None = None
    ok: Literal[False] = attrs.field(default=False, init=False)


#: One outcome of ``get_many``. ``if result.ok:`` narrows it for a type checker: then
#: ``result.profile`` is a ``Profile``, else ``result.error`` an ``MParticleError``.
ProfileResult: TypeAlias = ProfileFound | ProfileFailed


def fields_param(fields: Iterable[str] | str | None) -> str:
    """The ``fields`` query value; anything but the documented field names is rejected."""
    if fields is None:
        return _ALL_FIELDS
    if isinstance(fields, str):
        chosen: tuple[object, ...] = (fields,)
    elif isinstance(fields, Iterable) and not isinstance(fields, (bytes, Mapping)):
        chosen = tuple(fields)
    else:
        raise InvalidRequest(
            f"fields must be a field name or a list of them, got {type(fields).__name__}"
        )
    if not chosen:
        raise InvalidRequest(f"fields must name at least one of: {', '.join(PROFILE_FIELDS)}")
    unknown = [f for f in chosen if f not in PROFILE_FIELDS]
    if unknown:
        raise InvalidRequest(
            f"fields: {', '.join(map(repr, unknown))} is not a Profile API field; "
            f"allowed: {', '.join(PROFILE_FIELDS)}"
        )
    return ",".join(dict.fromkeys(str(f) for f in chosen))


_ALL_FIELDS = ",".join(PROFILE_FIELDS)


def _non_empty_str(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{name} must be a non-empty string, got {value!r}")
    return value


class ProfileAPI(APIBase):
    """``GET /userprofile/v1/{org}/{account}/{workspace}/{mpid}`` and ``POST …/resolve/…``."""

    needs = "Profile API needs OAuth credentials: pass oauth=OAuthClientCredentials(...)"

    def __init__(
        self,
        session: Session,
        auth: AuthStrategy | None,
        workspace: Workspace,
        hosts: Hosts | None = None,
    ) -> None:
        super().__init__(session, auth, hosts)
        scope = f"{workspace.org_id}/{workspace.account_id}/{workspace.workspace_id}"
        self._profile_prefix = f"{self.hosts.api}{PROFILE_PATH}/{scope}/"
        prefix = URL(self._profile_prefix)
        self._profile_url = (prefix.scheme, prefix.raw_authority, prefix.raw_path)
        self._resolve_url = f"{self.hosts.api}{PROFILE_PATH}/resolve/{scope}"

    async def get(self, mpid: int | str, *, fields: Iterable[str] | str | None = None) -> Profile:
        """The profile of ``mpid`` (all documented fields unless ``fields`` names some)."""
        return await self._fetch(validate_mpid(mpid), fields_param(fields))

    async def _fetch(self, mpid: int, fields_value: str) -> Profile:
        # Built from parts that need no escaping (the prefix parsed once, an MPID of digits,
        # documented field names): no URL is parsed per lookup.
        scheme, authority, path = self._profile_url
        query = f"fields={fields_value}"
        parsed = URL.build(
            scheme=scheme,
            authority=authority,
            path=f"{path}{mpid}",
            query_string=query,
            encoded=True,
        )
        request = Request.prebuilt(
            "GET", parsed, f"{self._profile_prefix}{mpid}?{query}", bucket="profile"
        )
        return _decode_profile(await self._send(request))

    async def resolve(
        self,
        identity_type: str,
        value: str,
        *,
        environment: str = "production",
        fields: Iterable[str] | str | None = None,
        method: Literal["POST", "GET"] = "POST",
    ) -> Profile:
        """The profile of the user with identity ``identity_type`` = ``value``.

        mParticle's rendered docs show this call as ``GET`` with a JSON body; the docs source
        and production clients send ``POST``, which is the default. ``method="GET"`` sends the
        documented ``GET``-with-body form.
        """
        auth = self._credentials()
        _non_empty_str("identity_type", identity_type)
        right = PROFILE_RESOLVE_SPELLINGS.get(identity_type)
        if right is not None:
            raise InvalidRequest(
                f"identity_type {identity_type!r} is the Identity API's spelling; the Profile "
                f"API's resolve spells it {right!r}"
            )
        _non_empty_str("value", value)
        if environment not in ENVIRONMENTS:
            raise InvalidRequest(
                f"environment must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}"
            )
        if method not in ("POST", "GET"):
            raise InvalidRequest(f"method must be 'POST' or 'GET', got {method!r}")
        request = Request.json(
            method,
            self._resolve_url,
            {"environment_type": environment, "identity": {"type": identity_type, "value": value}},
            params={"fields": fields_param(fields)},
            bucket="profile",
            idempotent=True,  # a POST that only reads
        )
        return _decode_profile(await self._send(request, auth))

    def get_many(
        self,
        mpids: Iterable[int | str] | AsyncIterable[int | str],
        *,
        concurrency: int = 32,
        fields: Iterable[str] | str | None = None,
    ) -> AsyncGenerator[ProfileResult, None]:
        """Look up every MPID, at most ``concurrency`` at a time, yielding results as they finish.

        The input is read lazily (a generator of millions is fine). A lookup that fails yields
        a result with its ``error``; the stream goes on. Results come in completion order.
        Leaving the loop early cancels the lookups in flight. Bad arguments raise here, before
        anything is sent.
        """
        if isinstance(mpids, (str, bytes)) or not isinstance(mpids, (Iterable, AsyncIterable)):
            raise InvalidRequest(
                f"mpids must be an iterable (or async iterable) of MPIDs, got {type(mpids).__name__}"
            )
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidRequest(f"concurrency must be an integer >= 1, got {concurrency!r}")
        self._credentials()
        fields_value = fields_param(fields)
        return bounded_map(mpids, lambda mpid: self._lookup(mpid, fields_value), concurrency)

    async def _lookup(self, mpid: int | str, fields_value: str) -> ProfileResult:
        try:
            profile = await self._fetch(validate_mpid(mpid), fields_value)
        except MParticleError as exc:
            return ProfileFailed(mpid, exc)
        return ProfileFound(mpid, profile)

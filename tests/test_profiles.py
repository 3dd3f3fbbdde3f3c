"""The Profile API: validation before the network, requests as documented, tolerant decoding."""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from mp_async import Hosts, InvalidRequest, MParticle, Request, Session, Workspace
from mp_async.api.mpid import validate_mpid
from mp_async.api.profiles import Identity, Profile, fields_param
from mp_async.auth import OAuthClientCredentials
from mp_async.converter import converter
from mp_async.errors import MissingCredentials, UnexpectedResponse
from mp_async.request import Response

TOKEN_URL = "https://sso.auth.mparticle.com/oauth/token"
PROFILE_URL = "https://api.mparticle.com/userprofile/v1/1/2/3/42"
RESOLVE_URL = "https://api.mparticle.com/userprofile/v1/resolve/1/2/3"
ALL_FIELDS = "device_identities,user_identities,user_attributes,audience_memberships,attribution"


def client() -> MParticle:
    return MParticle(
        oauth=OAuthClientCredentials("id", "secret"),
        workspace=Workspace(org_id=1, account_id=2, workspace_id=3),
        hosts=Hosts.us1(),
    )


@pytest.fixture
def token(mocked):
    mocked.post(TOKEN_URL, payload={"access_token": "t", "expires_in": 28800}, repeat=True)
    return mocked


async def test_get_requests_all_documented_fields_by_default(token) -> None:
    token.get(f"{PROFILE_URL}?fields={ALL_FIELDS}", payload={"mpid": 42})
    async with client() as mp:
        profile = await mp.profiles.get(42)
    assert profile == Profile(mpid=42)
    (call,) = token.requests[("GET", URL(f"{PROFILE_URL}?fields={ALL_FIELDS}"))]
    assert call.kwargs["headers"]["Authorization"] == "Bearer t"


async def test_get_decodes_every_part_and_ignores_unknown_fields(token) -> None:
    token.get(
        f"{PROFILE_URL}?fields=user_attributes,audience_memberships",
        payload={
            "mpid": "42",
            "user_attributes": {"$country": "US", "ltv": 12.5},
            "audience_memberships": [{"audience_id": 7, "audience_name": "VIP", "new": 1}],
            "user_identities": [{"type": "email", "value": "a@example.com", "extra": True}],
            "a_field_added_next_year": {"x": 1},
        },
    )
    async with client() as mp:
        profile = await mp.profiles.get("42", fields=["user_attributes", "audience_memberships"])
    assert profile.mpid == 42
    assert profile.user_attributes == {"$country": "US", "ltv": 12.5}
    assert profile.audience_memberships[0].audience_id == 7
    assert profile.identity("email") == "a@example.com"
    assert profile.identity("customer_id") is None


async def test_resolve_posts_the_documented_body_by_default(token) -> None:
    token.post(f"{RESOLVE_URL}?fields=user_attributes", payload={"mpid": 9})
    async with client() as mp:
        profile = await mp.profiles.resolve("customer_id", "12345", fields="user_attributes")
    assert profile.mpid == 9
    (call,) = token.requests[("POST", URL(f"{RESOLVE_URL}?fields=user_attributes"))]
    assert call.kwargs["data"] == (
        b'{"environment_type":"production","identity":{"type":"customer_id","value":"12345"}}'
    )


async def test_resolve_can_send_the_documented_get_with_a_body(token) -> None:
    token.get(f"{RESOLVE_URL}?fields={ALL_FIELDS}", payload={"mpid": 9})
    async with client() as mp:
        await mp.profiles.resolve("email", "a@example.com", environment="development", method="GET")
    (call,) = token.requests[("GET", URL(f"{RESOLVE_URL}?fields={ALL_FIELDS}"))]
    assert b'"environment_type":"development"' in call.kwargs["data"]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda mp: mp.profiles.get(42, fields=["user_attributes", "favourite_colour"]), "fields"),
        (lambda mp: mp.profiles.get(42, fields=[]), "fields"),
        (lambda mp: mp.profiles.get("forty-two"), "mpid"),
        (lambda mp: mp.profiles.get(True), "mpid"),
        (lambda mp: mp.profiles.get(2**64), "mpid"),
        (lambda mp: mp.profiles.get(0), "mpid"),
        (lambda mp: mp.profiles.resolve("", "x"), "identity_type"),
        (lambda mp: mp.profiles.resolve("email", 5), "value"),
        (lambda mp: mp.profiles.resolve("email", "x", environment="staging"), "environment"),
        (lambda mp: mp.profiles.resolve("email", "x", method="PUT"), "method"),
    ],
)
async def test_bad_input_sends_nothing(mocked, call, field: str) -> None:
    async with client() as mp:
        with pytest.raises(InvalidRequest) as info:
            await call(mp)
    assert field in str(info.value)
    assert mocked.requests == {}


def test_field_errors_name_what_is_allowed() -> None:
    with pytest.raises(InvalidRequest, match="allowed: device_identities, user_identities"):
        fields_param(["colour"])
    assert fields_param(["attribution", "attribution"]) == "attribution"


def test_mpids_accept_ints_and_digit_strings() -> None:
    assert validate_mpid("-8240373199402373981") == -8240373199402373981
    assert validate_mpid(" 42 ") == 42
    assert validate_mpid(2**63 - 1) == 2**63 - 1


@pytest.mark.parametrize("text", ["--5", "²", "4 2", "0x10", "", "-"])
def test_mpid_text_must_be_ascii_digits(text: str) -> None:
    with pytest.raises(InvalidRequest, match="mpid"):
        validate_mpid(text)


async def test_profiles_without_oauth_is_a_clear_error(mocked) -> None:
    async with MParticle(workspace=Workspace(1, 2, 3)) as mp:
        with pytest.raises(MissingCredentials, match="oauth"):
            await mp.profiles.get(42)
    assert mocked.requests == {}


async def test_a_null_identity_encoding_is_the_default_not_the_text_none(token) -> None:
    identities = [{"type": "email", "value": "a@example.com", "encoding": None}]
    token.get(
        f"{PROFILE_URL}?fields={ALL_FIELDS}", payload={"mpid": 42, "user_identities": identities}
    )
    async with client() as mp:
        profile = await mp.profiles.get(42)
    assert profile.user_identities == (Identity("email", "a@example.com", "none"),)


@pytest.mark.parametrize(
    "identity",
    [
        {"type": None, "value": "x"},
        {"type": {"t": "email"}, "value": "x"},
        {"type": "email", "encoding": [1]},
    ],
)
async def test_an_identity_field_of_the_wrong_shape_is_a_typed_error(token, identity) -> None:
    token.get(
        f"{PROFILE_URL}?fields={ALL_FIELDS}", payload={"mpid": 42, "user_identities": [identity]}
    )
    async with client() as mp:
        with pytest.raises(UnexpectedResponse, match="expected a string"):
            await mp.profiles.get(42)


@pytest.mark.parametrize("body", [b"[]", b'{"no_mpid": 1}', b'{"mpid": "abc"}', b"", b"{trunc"])
async def test_a_reply_of_the_wrong_shape_is_a_typed_error(token, body: bytes) -> None:
    token.get(f"{PROFILE_URL}?fields={ALL_FIELDS}", body=body)
    async with client() as mp:
        with pytest.raises(UnexpectedResponse) as info:
            await mp.profiles.get(42)
    assert "/userprofile/v1/1/2/3/42" in str(info.value)


def test_profile_round_trips_through_the_converter() -> None:
    document = {
        "mpid": 5,
        "device_identities": [{"type": "ios_idfa", "value": "x", "encoding": "none"}],
        "user_identities": [],
        "user_attributes": {"a": [1, 2]},
        "audience_memberships": [
            {
                "audience_id": 1,
                "audience_name": "n",
                "public_audience_name": None,
                "expiration_timestamp_ms": 3,
            }
        ],
        "attribution": [],
    }
    profile = converter.structure(document, Profile)
    assert converter.structure(converter.unstructure(profile), Profile) == profile


@pytest.mark.parametrize(
    "hosts",
    [
        Hosts.us1(),
        Hosts.eu1(),
        Hosts.local("http://127.0.0.1:8080"),
        Hosts.local("http://localhost:9/some/prefix/"),
    ],
)
@pytest.mark.parametrize("fields", [None, "user_attributes", ["attribution", "user_identities"]])
async def test_a_lookup_s_url_is_built_as_parsing_its_text_would(
    hosts: Hosts, fields: list[str] | str | None
) -> None:
    sent: list[Request] = []

    class Recording(Session):
        async def send(self, request: Request, auth: Any = None, **_: Any) -> Response:
            sent.append(request)
            return Response(200, None, b'{"mpid": 8}', request.method, request.path)  # type: ignore[arg-type]

    async with MParticle(
        oauth=OAuthClientCredentials("id", "secret"),
        workspace=Workspace(org_id=1, account_id=2, workspace_id=3),
        hosts=hosts,
        session=Recording(),
    ) as mp:
        assert (await mp.profiles.get(8240373199402373981, fields=fields)).mpid == 8
    (request,) = sent
    assert request.parsed_url == URL(request.url)
    assert str(request.parsed_url) == str(URL(request.url))
    assert request.parsed_url.raw_path_qs == URL(request.url).raw_path_qs
    assert request.url.startswith(hosts.api) and "/8240373199402373981?fields=" in request.url

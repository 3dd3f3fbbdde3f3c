"""The Identity API: documented auth headers, validation before the network, tolerant decoding."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import pytest
from yarl import URL

from mp_async import Hosts, InvalidRequest, MParticle
from mp_async.api.identity import IdentityChange, IdentityResult, decode_result
from mp_async.auth import ApiKeyAuth, BasicAuth, HmacDigestAuth
from mp_async.errors import (
    BadRequest,
    MissingCredentials,
    NotFound,
    NoUserMatched,
    UnexpectedResponse,
)

IDENTITY = "https://identity.mparticle.com/v1"
IDENTIFY_URL = f"{IDENTITY}/identify"
SEARCH_URL = f"{IDENTITY}/search"
# 2017-07-12T22:41:27Z, the instant of the documented signing example
DOCUMENTED_INSTANT = 1499899287.0


def client(auth=None) -> MParticle:
    return MParticle(identity_auth=auth or HmacDigestAuth("key", "secret"), hosts=Hosts.us1())


def sent(mocked, url: str, method: str = "POST"):
    (call,) = mocked.requests[(method, URL(url))]
    return call.kwargs


async def test_identify_posts_the_documented_body_and_reads_the_string_mpid_as_int(
    mocked,
) -> None:
    mocked.post(
        IDENTIFY_URL,
        payload={"mpid": "8157731398624011000", "context": "ctx", "is_ephemeral": False},
    )
    async with client() as mp:
        result = await mp.identity.identify({"email": "a@example.com"}, environment="development")
    assert result == IdentityResult(mpid=8157731398624011000, context="ctx")
    body = json.loads(sent(mocked, IDENTIFY_URL)["data"])
    assert body["environment"] == "development"
    assert body["known_identities"] == {"email": "a@example.com"}
    uuid.UUID(body["request_id"])  # filled in when not given
    assert isinstance(body["request_timestamp_ms"], int)


async def test_hmac_signature_is_the_documented_digest_of_method_date_path_and_sent_bytes(
    mocked,
) -> None:
    mocked.post(IDENTIFY_URL, payload={"mpid": "1"})
    auth = HmacDigestAuth("example-api-key", "example-api-secret", clock=lambda: DOCUMENTED_INSTANT)
    async with client(auth) as mp:
        await mp.identity.identify(android_uuid="f924f1e5707b34b7", environment="development")
    request = sent(mocked, IDENTIFY_URL)
    headers, body = request["headers"], request["data"]
    # Computed here from the documented algorithm: METHOD \n DATE \n PATH, then the body bytes.
    message = b"POST\n20170712T224127Z\n/v1/identify" + body
    expected = hmac.new(b"example-api-secret", message, hashlib.sha256).hexdigest()
    assert headers["Date"] == "20170712T224127Z"
    assert headers["x-mp-key"] == "example-api-key"
    assert headers["x-mp-signature"] == expected


async def test_basic_auth_sends_the_documented_header(mocked) -> None:
    mocked.post(IDENTIFY_URL, payload={"mpid": "1"})
    async with client(BasicAuth("example-api-key", "example-api-secret")) as mp:
        await mp.identity.identify(customerid="42")
    headers = sent(mocked, IDENTIFY_URL)["headers"]
    assert headers["Authorization"] == "Basic ZXhhbXBsZS1hcGkta2V5OmV4YW1wbGUtYXBpLXNlY3JldA=="
    assert "x-mp-signature" not in headers


async def test_key_only_auth_sends_the_key_alone(mocked) -> None:
    mocked.post(IDENTIFY_URL, payload={"mpid": "1"})
    async with client(ApiKeyAuth("example-api-key")) as mp:
        await mp.identity.identify(customerid="42")
    headers = sent(mocked, IDENTIFY_URL)["headers"]
    assert headers["x-mp-key"] == "example-api-key"
    assert "Authorization" not in headers and "x-mp-signature" not in headers


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda api: api.identify({}), "customerid"),
        (lambda api: api.identify({"e-mail": "a@example.com"}), "'e-mail'"),
        (lambda api: api.search({"email": "a@example.com"}, environment="staging"), "production"),
        (lambda api: api.login({"customerid": 42}), "customerid"),
        (lambda api: api.logout({"email": ""}), "email"),
        (lambda api: api.identify(["email", "a@example.com"]), "mapping"),
        (lambda api: api.identify(email="a@example.com", previous_mpid="abc"), "mpid"),
        (lambda api: api.identify(email="a@example.com", client_sdk={"os": "x"}), "sdk_vendor"),
        (lambda api: api.modify(42, []), "IdentityChange"),
        (lambda api: api.modify("not-an-mpid", IdentityChange("email", None, "a@b.c")), "mpid"),
        (lambda api: api.modify(42, [IdentityChange("fax", None, "1")]), "customerid"),
        (lambda api: api.modify(42, [IdentityChange("email", None, None)]), "add or remove"),
    ],
    ids=[
        "empty identities",
        "unknown identity type",
        "unknown environment",
        "non-string value",
        "empty value",
        "not a mapping",
        "bad previous_mpid",
        "unknown client_sdk field",
        "no changes",
        "bad mpid",
        "unknown change type",
        "change with no values",
    ],
)
async def test_each_bad_input_raises_invalid_request_and_sends_nothing(mocked, call, named) -> None:
    async with client() as mp:
        with pytest.raises(InvalidRequest) as info:
            await call(mp.identity)
    assert named in str(info.value)
    assert mocked.requests == {}


async def test_a_client_without_identity_auth_raises_missing_credentials_and_sends_nothing(
    mocked,
) -> None:
    async with MParticle() as mp:
        with pytest.raises(MissingCredentials, match="identity_auth"):
            await mp.identity.identify(email="a@example.com")
    assert mocked.requests == {}


async def test_identities_may_be_given_as_a_mapping_and_as_keywords(mocked) -> None:
    mocked.post(SEARCH_URL, payload={"mpid": "7"})
    async with client() as mp:
        user = await mp.identity.search({"customerid": "42"}, email="a@example.com")
    assert user.mpid == 7
    body = json.loads(sent(mocked, SEARCH_URL)["data"])
    assert body["known_identities"] == {"customerid": "42", "email": "a@example.com"}


async def test_search_without_a_match_raises_no_user_matched_with_the_reply_errors(
    mocked,
) -> None:
    mocked.post(
        SEARCH_URL,
        status=404,
        payload={"errors": [{"code": "NOT_FOUND", "message": "no user matches"}]},
    )
    async with client() as mp:
        with pytest.raises(NoUserMatched) as info:
            await mp.identity.search(email="nobody@example.com")
    error = info.value
    assert isinstance(error, NotFound)
    assert error.status == 404 and error.path == "/v1/search"
    assert error.errors[0].code == "NOT_FOUND" and error.errors[0].message == "no user matches"


async def test_search_answered_with_no_mpid_also_raises_no_user_matched(mocked) -> None:
    mocked.post(SEARCH_URL, payload={"mpid": None})
    async with client() as mp:
        with pytest.raises(NoUserMatched):
            await mp.identity.search(email="nobody@example.com")


async def test_an_error_reply_is_parsed_into_the_raised_error(mocked) -> None:
    mocked.post(
        IDENTIFY_URL,
        status=400,
        payload={"errors": [{"code": "LOOKUP_ERROR", "message": "bad identity"}]},
    )
    async with client() as mp:
        with pytest.raises(BadRequest, match="bad identity") as info:
            await mp.identity.identify(email="a@example.com")
    assert info.value.errors[0].code == "LOOKUP_ERROR"
    assert "secret" not in str(info.value)


async def test_modify_sends_each_change_with_null_meaning_add_or_remove(mocked) -> None:
    url = f"{IDENTITY}/8157731398624011000/modify"
    mocked.post(url, payload={})
    changes = [
        IdentityChange("email", "old@example.com", "new@example.com"),
        IdentityChange("customerid", None, "42"),
        IdentityChange("other", "legacy", None),
    ]
    async with client() as mp:
        await mp.identity.modify("8157731398624011000", changes)
    body = json.loads(sent(mocked, url)["data"])
    assert body["environment"] == "production"
    assert body["identity_changes"] == [
        {"old_value": "old@example.com", "new_value": "new@example.com", "identity_type": "email"},
        {"old_value": None, "new_value": "42", "identity_type": "customerid"},
        {"old_value": "legacy", "new_value": None, "identity_type": "other"},
    ]


async def test_read_only_and_return_matches_are_query_parameters(mocked) -> None:
    url = f"{IDENTITY}/login?read_only=true&return_matches=true"
    mocked.post(url, payload={"mpid": "5", "matched_identities": {"customerid": "42"}})
    async with client() as mp:
        result = await mp.identity.login(
            {"customerid": "42"}, previous_mpid=4, read_only=True, return_matches=True
        )
    assert result.matched_identities == {"customerid": "42"}
    body = json.loads(sent(mocked, url)["data"])
    assert body["previous_mpid"] == "4"


async def test_a_pod_hosts_value_sends_to_that_pods_identity_host(mocked) -> None:
    url = "https://identity.eu1.mparticle.com/v1/logout"
    mocked.post(url, payload={"mpid": "3"})
    mp = MParticle(identity_auth=HmacDigestAuth("key", "secret"), hosts=Hosts.eu1())
    async with mp:
        result = await mp.identity.logout(android_uuid="device-1")
    assert result.mpid == 3


@pytest.mark.parametrize(
    ("document", "mpid"),
    [
        ({"mpid": "8157731398624011000"}, 8157731398624011000),
        ({"mpid": "-12"}, -12),
        ({"mpid": 9}, 9),
    ],
)
def test_decode_result_reads_the_wire_string_mpid_as_an_int(document, mpid) -> None:
    assert decode_result({**document, "a_field_added_later": 1}).mpid == mpid


@pytest.mark.parametrize("document", [{"mpid": "12x"}, {"mpid": True}, {}, ["mpid"]])
def test_decode_result_rejects_a_reply_without_a_usable_mpid(document) -> None:
    with pytest.raises(UnexpectedResponse):
        decode_result(document)


@pytest.mark.parametrize(
    "identity_type",
    ["other2", "other10", "alias", "mobile_number", "phone_number_2", "phone_number_3"],
)
async def test_identity_types_the_mobile_sdks_send_are_accepted(mocked, identity_type: str) -> None:
    # Android's MParticleIdentityClientImpl and Apple's MPIdentityDTO send these beyond the
    # identity Swagger spec's list.
    url = "https://identity.mparticle.com/v1/identify"
    mocked.post(url, payload={"mpid": "5"})
    async with MParticle(identity_auth=HmacDigestAuth("key", "secret")) as mp:
        await mp.identity.identify({identity_type: "v-1"})
    [call] = [c for calls in mocked.requests.values() for c in calls]
    assert json.loads(call.kwargs["data"])["known_identities"] == {identity_type: "v-1"}


@pytest.mark.parametrize(
    ("events_spelling", "identity_spelling"),
    [("customer_id", "customerid"), ("other_id_2", "other2")],
)
async def test_an_events_api_spelling_names_the_identity_apis(
    events_spelling: str, identity_spelling: str
) -> None:
    async with MParticle(identity_auth=HmacDigestAuth("key", "secret")) as mp:
        with pytest.raises(InvalidRequest, match=f"spells it '{identity_spelling}'"):
            await mp.identity.identify({events_spelling: "42"})
    with pytest.raises(InvalidRequest, match=f"spells it '{identity_spelling}'"):
        IdentityChange(events_spelling, None, "42")

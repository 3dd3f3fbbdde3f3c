"""The Identity API end to end over a loopback socket, against the emulator's IDSync."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from email.utils import formatdate

import aiohttp
import pytest
from conftest import FakeTime, client_for

from mp_async import MParticle, Session
from mp_async.api.identity import IdentityChange
from mp_async.auth import ApiKeyAuth, BasicAuth, HmacDigestAuth
from mp_async.emulator import Emulator
from mp_async.emulator.state import IdentityState
from mp_async.errors import BadRequest, NoUserMatched, Unauthorized


def iso_date(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def signed_headers(secret: str, key: str, date: str, path: str, body: bytes) -> dict[str, str]:
    """Headers signed as mParticle documents it, independently of the client's signer."""
    message = f"POST\n{date}\n{path}".encode() + body
    return {
        "x-mp-key": key,
        "Date": date,
        "x-mp-signature": hmac.new(secret.encode(), message, hashlib.sha256).hexdigest(),
        "Content-Type": "application/json",
    }


async def test_identify_search_modify_search_round_trip(mp: MParticle) -> None:
    created = await mp.identity.identify({"email": "ada@example.com", "customerid": "ada-1"})
    assert isinstance(created.mpid, int)

    found = await mp.identity.search(email="ada@example.com")
    assert found.mpid == created.mpid

    result = await mp.identity.modify(
        created.mpid,
        [
            IdentityChange("email", "ada@example.com", "ada@lovelace.example"),
            IdentityChange("other", None, "analytical-engine"),
        ],
    )
    assert [c["identity_type"] for c in result.change_results] == ["email", "other"]
    assert result.reply == {"change_results": list(result.change_results)}
    assert (await mp.identity.search(email="ada@lovelace.example")).mpid == created.mpid
    assert (await mp.identity.search(other="analytical-engine")).mpid == created.mpid
    with pytest.raises(NoUserMatched):
        await mp.identity.search(email="ada@example.com")


async def test_identify_gives_the_same_identities_the_same_mpid_on_every_run(
    mp: MParticle, emulator: Emulator
) -> None:
    first = await mp.identity.identify(customerid="grace-1")
    again = await mp.identity.identify(customerid="grace-1")
    assert first.mpid == again.mpid
    # A fresh emulator derives the same MPID for the same identities.
    assert IdentityState().stable_mpid({"customerid": "grace-1"}) == first.mpid
    assert list(emulator.state.identity.users) == [first.mpid]


async def test_search_never_creates_a_user(mp: MParticle, emulator: Emulator) -> None:
    with pytest.raises(NoUserMatched) as info:
        await mp.identity.search(email="nobody@example.com")
    assert info.value.status == 404
    assert emulator.state.identity.users == {}


async def test_login_and_logout_resolve_users_and_can_return_matches(mp: MParticle) -> None:
    device = await mp.identity.identify(android_uuid="device-7")
    user = await mp.identity.login(
        {"customerid": "alan-1", "android_uuid": "device-7"},
        previous_mpid=device.mpid,
        return_matches=True,
    )
    assert user.mpid == device.mpid  # the device's user logs in and gains the customer id
    assert user.matched_identities == {"android_uuid": "device-7"}
    assert (await mp.identity.search(customerid="alan-1")).mpid == device.mpid
    after_logout = await mp.identity.logout(android_uuid="device-7")
    assert after_logout.mpid == device.mpid


async def test_a_retry_after_429_is_signed_again_with_a_new_date(emulator: Emulator) -> None:
    state = emulator.state
    emulator.faults.identity_throttle_next = 1  # the first attempt is checked, then 429
    seconds = itertools.count(time.time(), 1.0)  # every signature one second after the last
    auth = HmacDigestAuth(state.api_key, state.api_secret, clock=lambda: next(seconds))
    fake_time = FakeTime()
    session = Session(sleep=fake_time.sleep, clock=fake_time.clock)
    async with client_for(emulator, identity_auth=auth, session=session) as mp:
        result = await mp.identity.identify(email="edsger@example.com")

    assert fake_time.sleeps == [1.0]  # the Retry-After, waited on the fake clock
    (first_date, first_signature), (second_date, second_signature) = state.identity.signed_requests
    assert first_date != second_date
    assert first_signature != second_signature
    assert state.identity.users[result.mpid] == {"email": "edsger@example.com"}


@pytest.mark.parametrize("date_format", ["iso8601", "rfc1123"])
async def test_both_documented_date_forms_are_accepted(emulator: Emulator, date_format) -> None:
    state = emulator.state
    auth = HmacDigestAuth(state.api_key, state.api_secret, date_format=date_format)
    async with client_for(emulator, identity_auth=auth) as mp:
        await mp.identity.identify(email="barbara@example.com")
    ((date, _),) = state.identity.signed_requests
    assert date.endswith("GMT") == (date_format == "rfc1123")


BODY = json.dumps({"environment": "production", "known_identities": {"email": "k@example.com"}})


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h, b: ({**h, "x-mp-signature": "0" * 64}, b), "signature does not match"),
        (lambda h, b: ({**h, "Date": "yesterday"}, b), "Date header"),
        (lambda h, b: (h, b.replace(b"k@example.com", b"m@example.com")), "signature does not"),
    ],
    ids=["wrong signature", "malformed Date", "body changed after signing"],
)
async def test_a_tampered_signed_request_is_refused(emulator: Emulator, tamper, reason) -> None:
    state = emulator.state
    path = "/identity/v1/identify"
    body = BODY.encode()
    headers = signed_headers(state.api_secret, state.api_key, iso_date(time.time()), path, body)
    headers, body = tamper(headers, body)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emulator.url}{path}", data=body, headers=headers) as response:
            status, reply = response.status, await response.json()
    assert status == 401
    assert reason in reply["errors"][0]["message"]
    assert state.identity.users == {}


@pytest.mark.parametrize("skew", [-360.0, 360.0])
async def test_a_date_more_than_five_minutes_off_is_refused(emulator: Emulator, skew) -> None:
    state = emulator.state
    auth = HmacDigestAuth(state.api_key, state.api_secret, clock=lambda: time.time() + skew)
    async with client_for(emulator, identity_auth=auth) as mp:
        with pytest.raises(Unauthorized, match="off"):
            await mp.identity.identify(email="donald@example.com")
    assert state.identity.users == {}


async def test_the_same_date_in_rfc_1123_is_signed_and_checked_as_sent(emulator: Emulator) -> None:
    state = emulator.state
    path = "/identity/v1/search"
    body = BODY.encode()
    date = formatdate(time.time(), usegmt=True)
    headers = signed_headers(state.api_secret, state.api_key, date, path, body)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emulator.url}{path}", data=body, headers=headers) as response:
            assert response.status == 404  # authenticated; nobody has that email yet


async def test_basic_credentials_are_checked(emulator: Emulator) -> None:
    state = emulator.state
    good = BasicAuth(state.api_key, state.api_secret)
    async with client_for(emulator, identity_auth=good) as mp:
        assert (await mp.identity.identify(customerid="frances-1")).mpid
    wrong = BasicAuth(state.api_key, "not-the-secret")
    async with client_for(emulator, identity_auth=wrong) as mp:
        with pytest.raises(Unauthorized) as info:
            await mp.identity.identify(customerid="frances-1")
    assert "not-the-secret" not in str(info.value)
    expected = base64.b64encode(f"{state.api_key}:{state.api_secret}".encode()).decode()
    assert expected not in str(info.value)


async def test_key_only_access_is_refused_unless_enabled(emulator: Emulator) -> None:
    key_only = ApiKeyAuth(emulator.state.api_key)
    async with client_for(emulator, identity_auth=key_only) as mp:
        with pytest.raises(Unauthorized, match="key-only"):
            await mp.identity.identify(customerid="ken-1")
        emulator.state.identity.key_only_enabled = True
        assert (await mp.identity.identify(customerid="ken-1")).mpid


async def test_modify_with_a_stale_old_value_changes_nothing(
    mp: MParticle, emulator: Emulator
) -> None:
    user = await mp.identity.identify(email="ada@example.com", customerid="ada-1")
    stale = IdentityChange("email", "someone-else@example.com", "ada@new.example")
    with pytest.raises(BadRequest, match="old_value"):
        await mp.identity.modify(user.mpid, [IdentityChange("customerid", "ada-1", None), stale])
    assert emulator.state.identity.users[user.mpid] == {
        "email": "ada@example.com",
        "customerid": "ada-1",
    }


@pytest.mark.parametrize(
    ("signed_path", "status"),
    [
        ("/identity/v1/identify?read_only=true&return_matches=true", 200),
        ("/identity/v1/identify", 401),  # the query left out of the signature
    ],
    ids=["path and query signed", "query left out"],
)
async def test_the_emulator_checks_the_query_as_part_of_the_signed_path(
    emulator: Emulator, signed_path: str, status: int
) -> None:
    # mParticle's Android SDK signs URL.getFile(), its Apple SDK appends "?" + query: the
    # path with its query, as sent.
    state = emulator.state
    body = BODY.encode()
    headers = signed_headers(
        state.api_secret, state.api_key, iso_date(time.time()), signed_path, body
    )
    url = f"{emulator.url}/identity/v1/identify?read_only=true&return_matches=true"
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as reply:
        assert reply.status == status


async def test_a_signed_read_only_identify_signs_its_query(mocked) -> None:
    url = "https://identity.mparticle.com/v1/identify?read_only=true&return_matches=true"
    mocked.post(url, payload={"mpid": "5"})
    auth = HmacDigestAuth("key", "secret")
    async with MParticle(identity_auth=auth) as mp:
        await mp.identity.identify(email="ada@example.com", read_only=True, return_matches=True)
    [call] = [c for calls in mocked.requests.values() for c in calls]
    headers, body = call.kwargs["headers"], call.kwargs["data"]
    with_query = signed_headers(
        "secret", "key", headers["Date"], "/v1/identify?read_only=true&return_matches=true", body
    )
    assert headers["x-mp-signature"] == with_query["x-mp-signature"]


@pytest.mark.parametrize("previous", ["8240373199402373981", 8240373199402373981])
async def test_the_emulator_takes_previous_mpid_as_text_or_as_a_number(
    emulator: Emulator, previous: object
) -> None:
    # The Swagger spec says a string; mParticle's Android SDK sends a number.
    state = emulator.state
    body = json.dumps(
        {
            "environment": "production",
            "previous_mpid": previous,
            "known_identities": {"email": "n@example.com"},
        }
    ).encode()
    path = "/identity/v1/identify"
    headers = signed_headers(state.api_secret, state.api_key, iso_date(time.time()), path, body)
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emulator.url}{path}", data=body, headers=headers) as reply,
    ):
        assert reply.status == 200

"""Defects found by trying to break the client, each pinned by the case that broke it."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from conftest import FakeTime, client_for

from mp_async import Hosts, InvalidRequest, MParticle, RateLimited, RetryPolicy, Session, Workspace
from mp_async.auth import BasicAuth, HmacDigestAuth, OAuthClientCredentials
from mp_async.emulator import Emulator
from mp_async.retry import Failure, certainly_not_applied, should_retry

# --- the gate and the caller's deadline ------------------------------------------------------


async def test_a_retry_after_past_the_deadline_still_closes_the_gate(emulator: Emulator) -> None:
    # Every request is throttled for an hour: far past any caller's max_elapsed.
    emulator.faults.fail_next(429, count=1000, headers={"Retry-After": "3600"})
    async with client_for(emulator) as mp:
        results = [r async for r in mp.profiles.get_many(emulator.seeded_mpids, concurrency=10)]
    assert all(isinstance(r.error, RateLimited) for r in results)
    assert len(results) == 200
    # Only the first wave reached the server; everyone after it stopped at the closed gate.
    assert emulator.state.requests[("GET", "profile.get")] <= 10


async def test_a_caller_whose_deadline_falls_inside_the_gate_wait_fails_at_once(mocked) -> None:
    fake = FakeTime()
    url = "https://api.mparticle.com/userprofile/v1/1/2/3/42?fields=user_attributes"
    mocked.get(url, status=429, headers={"Retry-After": "5"})
    policy = RetryPolicy(max_elapsed=2.0)
    async with Session(retry=policy, sleep=fake.sleep, clock=fake.clock) as session:
        from conftest import StaticBearer

        from mp_async.api.profiles import ProfileAPI

        api = ProfileAPI(session, StaticBearer(), Workspace(1, 2, 3))
        with pytest.raises(RateLimited):
            await api.get(42, fields="user_attributes")  # 5 s asked, 2 s allowed
        with pytest.raises(RateLimited, match=r"gate opens in 5\.0 s"):
            await api.get(42, fields="user_attributes")  # the gate is closed: no request
    assert fake.sleeps == []  # nobody slept past their deadline
    assert sum(len(calls) for calls in mocked.requests.values()) == 1


# --- which failures are retried --------------------------------------------------------------

DEFAULT = RetryPolicy()


@pytest.mark.parametrize(
    ("failure", "idempotent", "retried"),
    [
        (Failure(None, sent=False), False, True),  # connection refused: never reached it
        (Failure(None, sent=True), False, False),  # lost after sending: may have been applied
        (Failure(None, sent=True), True, True),
        (Failure(429), False, True),
        (Failure(503, retry_after=1.0), False, True),
        (Failure(503), False, False),
        (Failure(503), True, True),
        (Failure(500), False, False),
        (Failure(500), True, True),
        (Failure(502), True, True),
        (Failure(504), False, False),
        (Failure(400), True, False),
        (Failure(401), True, False),
        (Failure(404), True, False),
        (Failure(409), True, False),
    ],
)
def test_should_retry_table(failure: Failure, idempotent: bool, retried: bool) -> None:
    assert should_retry(failure, idempotent=idempotent, policy=DEFAULT) is retried


def test_retry_non_idempotent_retries_whatever_may_be_retried() -> None:
    policy = RetryPolicy(retry_non_idempotent=True)
    assert should_retry(Failure(500), idempotent=False, policy=policy)
    assert should_retry(Failure(None), idempotent=False, policy=policy)
    assert not should_retry(Failure(400), idempotent=False, policy=policy)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (Failure(None, sent=False), True),
        (Failure(None), False),
        (Failure(429), True),
        (Failure(503, retry_after=0.0), True),
        (Failure(503), False),
        (Failure(500), False),
    ],
)
def test_certainly_not_applied(failure: Failure, expected: bool) -> None:
    assert certainly_not_applied(failure) is expected


async def test_a_refused_connection_is_retried_even_for_a_modify() -> None:
    # Nothing listens on the port: every attempt is refused before anything is sent.
    fake = FakeTime()
    hosts = Hosts.local("http://127.0.0.1:9")
    policy = RetryPolicy(max_attempts=3)
    from mp_async.api.identity import IdentityChange
    from mp_async.errors import ConnectError

    session = Session(retry=policy, sleep=fake.sleep, clock=fake.clock)
    async with MParticle(
        identity_auth=HmacDigestAuth("k", "s"), hosts=hosts, session=session
    ) as mp:
        with pytest.raises(ConnectError) as caught:
            await mp.identity.modify(42, IdentityChange("email", None, "a@b.c"))
    assert caught.value.request_sent is False
    assert len(fake.sleeps) == 2  # three attempts


# --- credentials a server echoes back --------------------------------------------------------


@pytest.fixture
async def echo_server() -> AsyncIterator[str]:
    """A server that answers 401 quoting every header and the body it received."""

    async def echo(request: web.Request) -> web.Response:
        body = (await request.read()).decode()
        quoted = {
            "errors": [{"code": "UNAUTHORIZED", "message": f"{dict(request.headers)} {body}"}]
        }
        return web.json_response(quoted, status=401)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site.name
    finally:
        await runner.cleanup()


def _assert_nothing_of(secrets: list[str], *texts: str) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"{secret!r} leaked into {text[:200]!r}"


async def test_an_echoed_client_secret_and_token_stay_out_of_errors(echo_server: str) -> None:
    oauth = OAuthClientCredentials("client-id", "the-client-secret-123")
    async with MParticle(
        oauth=oauth, workspace=Workspace(1, 2, 3), hosts=Hosts.local(echo_server)
    ) as mp:
        with pytest.raises(Exception) as caught:
            await mp.profiles.get(42)
    error = caught.value
    details = " ".join(str(d) for d in getattr(error, "errors", ()))
    _assert_nothing_of(
        ["the-client-secret-123"], str(error), getattr(error, "body_excerpt", ""), details
    )
    assert "[redacted]" in getattr(error, "body_excerpt", "") + str(error)


async def test_echoed_basic_and_hmac_credentials_stay_out_of_errors_and_logs(
    echo_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    import base64

    basic = BasicAuth("api-key-1", "api-secret-basic")
    hmac_auth = HmacDigestAuth("api-key-1", "api-secret-hmac")
    encoded = base64.b64encode(b"api-key-1:api-secret-basic").decode()
    caplog.set_level(logging.DEBUG, logger="mp_async")
    async with MParticle(
        events_auth=basic, identity_auth=hmac_auth, hosts=Hosts.local(echo_server)
    ) as mp:
        with pytest.raises(Exception) as on_identify:
            await mp.identity.identify(email="a@example.com")
        async with mp.events.uploader() as up:
            await up.add({"environment": "production", "mpid": 1})
    signature_error = on_identify.value
    failed = up.failed[0].error
    texts = [str(signature_error), signature_error.body_excerpt, str(failed), failed.body_excerpt]
    texts += [record.getMessage() for record in caplog.records]
    _assert_nothing_of(["api-secret-basic", encoded, "api-secret-hmac"], *texts)
    # The signature itself is a credential too: the echoed header shows none.
    echoed = signature_error.errors[0].message
    assert "'X-Mp-Signature': '[redacted]'" in echoed or "'x-mp-signature': '[redacted]'" in echoed


# --- configuration that could never work ----------------------------------------------------


@pytest.mark.parametrize("bad", [math.inf, math.nan, -1.0, 0.0])
def test_a_non_finite_or_non_positive_timeout_is_refused_everywhere(bad: float) -> None:
    with pytest.raises(InvalidRequest, match="token_timeout"):
        OAuthClientCredentials("id", "secret", token_timeout=bad)
    with pytest.raises(InvalidRequest, match="timeout"):
        Session(timeout=bad)
    with pytest.raises(InvalidRequest, match="timeout"):
        MParticle(timeout=bad)
    with pytest.raises(InvalidRequest):
        RetryPolicy(max_elapsed=bad)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080\r\nX-Injected: 1", "http://127.0.0.1:8080/a\nb", "http://a b.example"],
)
def test_hosts_refuse_control_characters(url: str) -> None:
    with pytest.raises(InvalidRequest, match="control characters"):
        Hosts.local(url)
    with pytest.raises(InvalidRequest, match="control characters"):
        OAuthClientCredentials("id", "secret", token_url=url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/p?x=1", "http://127.0.0.1:8080/#top"])
def test_hosts_refuse_a_query_or_fragment_that_would_swallow_the_paths(url: str) -> None:
    with pytest.raises(InvalidRequest, match="query") as caught:
        Hosts.local(url)
    assert isinstance(caught.value, ValueError)


def test_a_trailing_newline_from_an_env_file_is_stripped() -> None:
    assert Hosts.local("http://127.0.0.1:8080\n").api == "http://127.0.0.1:8080"
    oauth = OAuthClientCredentials("id", "secret", token_url="http://127.0.0.1:8080/token\n")
    assert oauth.token_url == "http://127.0.0.1:8080/token"


def test_a_token_url_with_credentials_is_refused_without_showing_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="mp_async")
    with pytest.raises(InvalidRequest) as caught:
        OAuthClientCredentials("id", "secret", token_url="https://user:hunter2@sso.example/token")
    assert "hunter2" not in str(caught.value)
    assert not any("hunter2" in r.getMessage() for r in caplog.records)

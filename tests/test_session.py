"""The Session's retry, gate and error behaviour, with HTTP mocked by aioresponses."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from aioresponses import CallbackResult
from conftest import FakeTime
from yarl import URL

from mp_async import Request, RetryPolicy, Session
from mp_async.auth import OAuthClientCredentials
from mp_async.errors import (
    BadRequest,
    ClientClosed,
    ConnectError,
    RateLimited,
    RequestTimeout,
    ServerError,
    Unauthorized,
    UnexpectedResponse,
)

APPS = "https://api.mparticle.com/v1/apps"
TOKEN_URL = "https://sso.auth.mparticle.com/oauth/token"


def session_with(fake_time: FakeTime, **kwargs) -> Session:
    return Session(sleep=fake_time.sleep, clock=fake_time.clock, **kwargs)


def calls(mocked, method: str = "GET", url: str = APPS) -> int:
    return len(mocked.requests.get((method, URL(url)), []))


async def test_503s_are_retried_with_backoff_then_succeed(mocked, fake_time) -> None:
    mocked.get(APPS, status=503)
    mocked.get(APPS, status=503)
    mocked.get(APPS, payload={"data": []})
    async with session_with(fake_time, retry=RetryPolicy(backoff_base=1.0)) as session:
        response = await session.send(Request("GET", APPS))
    assert response.json() == {"data": []}
    assert calls(mocked) == 3
    assert len(fake_time.sleeps) == 2
    assert 0 <= fake_time.sleeps[0] <= 1.0 and 0 <= fake_time.sleeps[1] <= 2.0


async def test_retries_exhausted_raise_server_error(mocked, fake_time) -> None:
    mocked.get(APPS, status=500, repeat=True)
    async with session_with(fake_time, retry=RetryPolicy(max_attempts=3)) as session:
        with pytest.raises(ServerError) as info:
            await session.send(Request("GET", APPS))
    assert info.value.status == 500
    assert calls(mocked) == 3


async def test_429_with_retry_after_waits_that_long_even_above_backoff_max(
    mocked, fake_time
) -> None:
    mocked.get(APPS, status=429, headers={"Retry-After": "7"})
    mocked.get(APPS, payload={})
    async with session_with(fake_time, retry=RetryPolicy(backoff_max=1.0)) as session:
        await session.send(Request("GET", APPS))
    assert fake_time.sleeps == [7.0]


async def test_429_asking_for_more_than_the_deadline_raises_at_once(mocked, fake_time) -> None:
    mocked.get(APPS, status=429, headers={"Retry-After": "600"})
    async with session_with(fake_time, retry=RetryPolicy(max_elapsed=60)) as session:
        with pytest.raises(RateLimited) as info:
            await session.send(Request("GET", APPS))
    assert info.value.retry_after == 600.0
    assert fake_time.sleeps == []
    assert calls(mocked) == 1


async def test_429_closes_the_gate_so_other_callers_wait_instead_of_sending(mocked) -> None:
    loop = asyncio.get_running_loop()
    seen: dict[str, list[float]] = {"platform": [], "events": []}
    throttled = asyncio.Event()

    def reply(api: str):
        def callback(url, **kwargs):
            seen[api].append(loop.time())
            if api == "platform" and len(seen[api]) == 1:
                throttled.set()
                return CallbackResult(status=429, headers={"Retry-After": "0.3"})
            return CallbackResult(payload={})

        return callback

    events = "https://s2s.mparticle.com/v2/events"
    mocked.get(APPS, callback=reply("platform"), repeat=True)
    mocked.get(events, callback=reply("events"), repeat=True)
    async with Session() as session:
        first = asyncio.create_task(session.send(Request("GET", APPS, bucket="platform")))
        await throttled.wait()
        await asyncio.gather(
            first,
            session.send(Request("GET", APPS, bucket="platform")),
            session.send(Request("GET", events, bucket="events")),
        )
    throttled_at = seen["platform"][0]
    # every later platform request waited for the gate; events were not held back
    assert len(seen["platform"]) == 3
    assert all(t - throttled_at >= 0.3 for t in seen["platform"][1:])
    assert seen["events"][0] - throttled_at < 0.3


async def test_other_4xx_are_not_retried(mocked, fake_time) -> None:
    mocked.get(APPS, status=400, payload={"errors": [{"code": "BAD", "message": "no"}]})
    async with session_with(fake_time) as session:
        with pytest.raises(BadRequest) as info:
            await session.send(Request("GET", APPS))
    assert info.value.errors[0].code == "BAD"
    assert calls(mocked) == 1 and fake_time.sleeps == []


async def test_connection_errors_are_retried_then_raise_connect_error(mocked, fake_time) -> None:
    mocked.get(APPS, exception=aiohttp.ClientConnectionError("refused"), repeat=True)
    async with session_with(fake_time, retry=RetryPolicy(max_attempts=2)) as session:
        with pytest.raises(ConnectError) as info:
            await session.send(Request("GET", APPS))
    assert "GET /v1/apps" in str(info.value)
    assert calls(mocked) == 2


async def test_a_reply_cut_short_is_retried(mocked, fake_time) -> None:
    mocked.get(APPS, exception=aiohttp.ClientPayloadError("truncated"))
    mocked.get(APPS, payload={"ok": True})
    async with session_with(fake_time) as session:
        assert (await session.send(Request("GET", APPS))).json() == {"ok": True}


async def test_timeouts_raise_request_timeout(mocked, fake_time) -> None:
    mocked.get(APPS, timeout=True, repeat=True)
    async with session_with(fake_time, retry=RetryPolicy(max_attempts=2)) as session:
        with pytest.raises(RequestTimeout):
            await session.send(Request("GET", APPS))
    assert calls(mocked) == 2


async def test_elapsed_deadline_stops_retrying(mocked, fake_time) -> None:
    mocked.get(APPS, status=503, repeat=True)
    policy = RetryPolicy(max_attempts=100, backoff_base=10, backoff_max=10, max_elapsed=25)
    async with session_with(fake_time, retry=policy) as session:
        with pytest.raises(ServerError):
            await session.send(Request("GET", APPS))
    assert sum(fake_time.sleeps) <= 25


async def test_redirects_are_not_followed(mocked, fake_time) -> None:
    mocked.get(APPS, status=302, headers={"Location": "https://evil.example/steal"})
    mocked.get("https://evil.example/steal", payload={})
    async with session_with(fake_time) as session:
        with pytest.raises(UnexpectedResponse, match="redirect"):
            await session.send(Request("GET", APPS, headers={"x-mp-key": "k"}))
    assert calls(mocked, url="https://evil.example/steal") == 0


def _token(token: str) -> dict[str, object]:
    return {"access_token": token, "expires_in": 28800, "token_type": "Bearer"}


async def test_401_drops_the_token_and_retries_once_with_a_fresh_one(mocked, fake_time) -> None:
    mocked.post(TOKEN_URL, payload=_token("stale"))
    mocked.post(TOKEN_URL, payload=_token("fresh"))
    mocked.get(APPS, status=401)
    mocked.get(APPS, payload={"data": []})
    auth = OAuthClientCredentials("id", "secret")
    async with session_with(fake_time) as session:
        await session.send(Request("GET", APPS), auth)
    sent = mocked.requests[("GET", URL(APPS))]
    assert [c.kwargs["headers"]["Authorization"] for c in sent] == ["Bearer stale", "Bearer fresh"]
    assert fake_time.sleeps == []


async def test_a_second_401_raises_unauthorized(mocked, fake_time) -> None:
    mocked.post(TOKEN_URL, payload=_token("a"))
    mocked.post(TOKEN_URL, payload=_token("b"))
    mocked.get(APPS, status=401, repeat=True)
    auth = OAuthClientCredentials("id", "secret")
    async with session_with(fake_time) as session:
        with pytest.raises(Unauthorized):
            await session.send(Request("GET", APPS), auth)
    assert calls(mocked) == 2


async def test_closing_twice_is_fine_and_a_closed_session_refuses_requests() -> None:
    session = Session()
    async with session:
        pass
    await session.close()
    assert session.closed
    with pytest.raises(ClientClosed):
        await session.send(Request("GET", APPS))


async def test_an_injected_client_session_is_left_open(mocked) -> None:
    mocked.get(APPS, payload={})
    async with aiohttp.ClientSession() as client:
        async with Session(client_session=client) as session:
            await session.send(Request("GET", APPS))
        assert not client.closed


def test_a_session_can_be_created_outside_a_running_loop() -> None:
    session = Session()
    assert asyncio.run(session.close()) is None


async def test_debug_logs_name_the_call_but_never_credentials(mocked, fake_time, caplog) -> None:
    mocked.post(TOKEN_URL, payload=_token("token-value-123"))
    mocked.get(APPS, status=503)
    mocked.get(APPS, payload={})
    auth = OAuthClientCredentials("id", "client-secret-456")
    caplog.set_level(logging.DEBUG, logger="mp_async")
    async with session_with(fake_time) as session:
        await session.send(Request("GET", APPS), auth)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /v1/apps attempt 1 failed (503)" in text
    assert "token-value-123" not in text and "client-secret-456" not in text


def test_with_headers_carries_every_field_over() -> None:
    import attrs

    from mp_async import Request

    values = {
        "method": "POST",
        "url": "https://api.mparticle.com/x",
        "params": {"a": "1"},
        "headers": {"X-Old": "1"},
        "body": b"{}",
        "bucket": "profile",
        "timeout": 3.0,
        "idempotent": True,
        "secrets": ("s1",),
    }
    init_fields = {f.name for f in attrs.fields(Request) if f.init}
    assert init_fields == set(values), "a new Request field: carry it over in with_headers"
    copy = Request(**values).with_headers({"X-New": "2"}, secrets=("s2",))
    for name, value in values.items():
        if name not in ("headers", "secrets"):
            assert getattr(copy, name) == value, name
    assert copy.headers == {"X-Old": "1", "X-New": "2"}
    assert copy.secrets == ("s1", "s2")

"""Per-call settings (``with_options``), an injected aiohttp session, and proxies."""

from __future__ import annotations

import types
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from mp_async import InvalidRequest, MParticle, RetryPolicy, ServerError, Session
from mp_async.api.profiles import ProfileAPI
from mp_async.emulator import Emulator
from mp_async.errors import RequestTimeout
from mp_async.testing import client_for

ONE_TRY = RetryPolicy(max_attempts=1)


async def test_a_view_with_a_short_timeout_times_out_where_the_client_does_not(
    mp_emulator: Emulator,
) -> None:
    mp_emulator.faults.latency = 0.3
    mpid = mp_emulator.seeded_mpids[0]
    async with client_for(mp_emulator, retry=ONE_TRY) as mp:
        with pytest.raises(RequestTimeout):
            await mp.with_options(timeout=0.05).profiles.get(mpid)
        assert (await mp.profiles.get(mpid)).mpid == mpid


async def test_a_deadline_bounds_the_whole_call_retries_included(mp_emulator: Emulator) -> None:
    mp_emulator.faults.error_rate_503 = 1.0  # never succeeds: the client would retry for long
    patient = RetryPolicy(max_attempts=50, backoff_base=0.05, backoff_max=0.05, max_elapsed=60)
    async with client_for(mp_emulator, retry=patient) as mp:
        with pytest.raises((RequestTimeout, ServerError)):
            await mp.with_options(deadline=0.4).profiles.get(mp_emulator.seeded_mpids[0])
    attempts = mp_emulator.state.count("GET", "profile.get")
    assert 1 < attempts < 50  # retried, and stopped by the deadline, not by the policy


async def test_a_deadline_cuts_an_attempt_in_flight(mp_emulator: Emulator) -> None:
    mp_emulator.faults.latency = 5.0
    async with client_for(mp_emulator) as mp:
        await mp.platform.with_options(deadline=60).get("apps")  # token fetched, no latency
        with pytest.raises(RequestTimeout, match=r"deadline of 0\.2 s"):
            await mp.profiles.with_options(deadline=0.2).get(mp_emulator.seeded_mpids[0])


async def test_a_view_retries_as_told_and_the_client_as_before(mp_emulator: Emulator) -> None:
    mpid = mp_emulator.seeded_mpids[0]
    fast = RetryPolicy(max_attempts=3, backoff_base=0.01)
    async with client_for(mp_emulator, retry=fast) as mp:
        mp_emulator.faults.fail_next(503)
        with pytest.raises(ServerError):
            await mp.with_options(retry=ONE_TRY).profiles.get(mpid)
        mp_emulator.faults.fail_next(503)
        assert (await mp.profiles.get(mpid)).mpid == mpid  # retried past the 503


async def test_views_share_the_pool_and_the_token_and_closing_one_keeps_the_client(
    mp_emulator: Emulator,
) -> None:
    mpids = mp_emulator.seeded_mpids
    async with client_for(mp_emulator) as mp:
        view = mp.with_options(timeout=5)
        narrower = view.with_options(retry=ONE_TRY)
        assert view.session is mp.session and narrower.session is mp.session
        await view.profiles.get(mpids[0])
        await narrower.profiles.get(mpids[1])
        await view.close()
        assert not mp.session.closed
        await mp.profiles.get(mpids[2])
        assert isinstance(mp.profiles.with_options(timeout=1), ProfileAPI)
        assert mp.profiles.with_options(timeout=1) is not mp.profiles
    assert mp_emulator.state.token_requests == 1


@pytest.mark.parametrize(
    ("options", "field"),
    [({"timeout": 0}, "timeout"), ({"deadline": -1}, "deadline"), ({"timeout": "2"}, "timeout")],
)
def test_bad_options_are_refused_naming_them(options: dict[str, Any], field: str) -> None:
    mp = MParticle()
    with pytest.raises(InvalidRequest, match=field) as caught:
        mp.with_options(**options)
    assert isinstance(caught.value, ValueError)


# --- an injected aiohttp session -------------------------------------------------------------


def recorder() -> tuple[aiohttp.TraceConfig, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []
    trace = aiohttp.TraceConfig()

    async def on_start(session: Any, context: Any, params: Any) -> None:
        seen.append(dict(params.headers))

    trace.on_request_start.append(on_start)
    return trace, seen


async def test_an_injected_session_still_sends_our_user_agent(mp_emulator: Emulator) -> None:
    trace, seen = recorder()
    async with aiohttp.ClientSession(trace_configs=[trace]) as http:
        session = Session(client_session=http)
        async with client_for(mp_emulator, session=session) as mp:
            await mp.profiles.get(mp_emulator.seeded_mpids[0])
    assert seen and all(h.get("User-Agent", "").startswith("mp-async/") for h in seen)
    assert all(h.get("Accept") == "application/json" for h in seen)


async def test_an_injected_session_still_gets_our_timeout(mp_emulator: Emulator) -> None:
    mp_emulator.faults.latency = 2.0
    async with aiohttp.ClientSession() as http:  # aiohttp's own default: 5 minutes
        session = Session(client_session=http, timeout=0.1, retry=ONE_TRY)
        async with client_for(mp_emulator, session=session) as mp:
            with pytest.raises(RequestTimeout):
                await mp.identity.search(email="nobody@example.com")


def test_the_user_agent_names_the_package_version() -> None:
    import mp_async
    from mp_async.session import _DEFAULT_HEADERS

    assert _DEFAULT_HEADERS["User-Agent"].startswith(f"mp-async/{mp_async.__version__} ")


# --- proxies ---------------------------------------------------------------------------------


@pytest.fixture
async def proxy() -> Any:
    """A forwarding HTTP proxy on loopback that records the absolute URLs it was asked for."""
    asked: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        target = str(request.url) if request.url.is_absolute() else request.path_qs
        asked.append(target)
        async with (
            aiohttp.ClientSession(auto_decompress=False) as http,
            http.request(
                request.method,
                target,
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
                data=await request.read(),
                allow_redirects=False,
            ) as reply,
        ):
            body = await reply.read()
            headers = {
                k: v
                for k, v in reply.headers.items()
                if k.lower() in ("content-type", "retry-after")
            }
            return web.Response(status=reply.status, body=body, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield types.SimpleNamespace(url=f"http://127.0.0.1:{port}", asked=asked)
    await runner.cleanup()


async def test_proxy_sends_every_request_through_it(mp_emulator: Emulator, proxy: Any) -> None:
    async with client_for(mp_emulator, proxy=proxy.url) as mp:
        profile = await mp.profiles.get(mp_emulator.seeded_mpids[0])
    assert profile.mpid == mp_emulator.seeded_mpids[0]
    assert any("/oauth/token" in url for url in proxy.asked)  # the token request too
    assert any(url.startswith(mp_emulator.url) and "/userprofile/" in url for url in proxy.asked)


async def test_trust_env_takes_the_proxy_from_the_environment(
    mp_emulator: Emulator, proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with client_for(mp_emulator) as mp:  # trust_env is off by default, as in aiohttp
        await mp.profiles.get(mp_emulator.seeded_mpids[0])
    assert proxy.asked == []
    async with client_for(mp_emulator, trust_env=True) as mp:
        await mp.profiles.get(mp_emulator.seeded_mpids[0])
    assert len(proxy.asked) == 2  # the token and the lookup
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with client_for(mp_emulator, trust_env=True) as mp:
        await mp.profiles.get(mp_emulator.seeded_mpids[0])
    assert len(proxy.asked) == 2  # NO_PROXY honoured


def test_a_proxy_that_is_not_an_http_url_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="proxy"):
        Session(proxy="socks5://127.0.0.1:1080")

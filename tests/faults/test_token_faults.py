"""The OAuth token endpoint failing, lying, and tokens expiring under a steady load."""

from __future__ import annotations

import asyncio
import collections

import pytest
from conftest import client_for

from mp_async import APIError, MParticle, RetryPolicy
from mp_async.emulator import Emulator
from mp_async.emulator.faults import Faults
from mp_async.errors import ServerError, UnexpectedResponse

from .conftest import assert_bounded, client_on, other_tasks

pytestmark = pytest.mark.faults

FAST = RetryPolicy(backoff_base=0.02, backoff_max=0.2)


async def test_lookups_wait_for_a_token_endpoint_that_fails_for_a_while_then_succeed(
    emulator_thread,
) -> None:
    # Four 503s: one short of the default five attempts of the one shared token call.
    server = emulator_thread(profiles=50, faults=Faults(token_failures=4, token_delay=0.05))
    async with client_on(server, retry=FAST) as client:
        profiles = await assert_bounded(
            asyncio.gather(*(client.profiles.get(m) for m in server.emu.seeded_mpids)), 30
        )
    assert [p.mpid for p in profiles] == server.emu.seeded_mpids
    # Fifty callers, one token call retried four times: never one call per caller.
    assert server.emu.state.token_requests == 5


async def test_a_token_outage_longer_than_the_retries_fails_clearly_and_then_recovers(
    emulator_thread,
) -> None:
    server = emulator_thread(profiles=5, faults=Faults(token_failures=1000))
    mpid = server.emu.seeded_mpids[0]
    async with client_on(server, retry=RetryPolicy(max_attempts=3, backoff_base=0.01)) as client:
        outcomes = await asyncio.gather(
            *(client.profiles.get(mpid) for _ in range(10)), return_exceptions=True
        )
        assert all(isinstance(o, ServerError) and o.status == 503 for o in outcomes), outcomes
        assert all("/oauth/token" in str(o) for o in outcomes)
        assert server.emu.state.token_requests == 3  # one shared call, three attempts

        server.faults.token_failures = 0  # the token service is back
        assert (await client.profiles.get(mpid)).mpid == mpid
        assert other_tasks() == set()


SECRET_TOKEN = "tok-3f9c1e7d5b"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html><body>502 Bad Gateway</body></html>", id="html"),
        pytest.param(b"", id="empty"),
        pytest.param(b"null", id="null"),
        pytest.param(b'{"token_type": "Bearer", "expires_in": 28800}', id="no-access-token"),
        pytest.param(b'{"access_token": 12345, "expires_in": 28800}', id="token-not-a-string"),
        pytest.param(
            b'{"access_token": "' + SECRET_TOKEN.encode() + b'", "expires_in": "soon"}',
            id="expires-in-not-a-number",
        ),
        pytest.param(
            b'{"access_token": "' + SECRET_TOKEN.encode() + b'\\r\\nX-Injected: 1"}',
            id="token-with-a-line-break",
        ),
        pytest.param(
            b'{"access_token": "' + SECRET_TOKEN.encode() + b' \\u00e9", "expires_in": 60}',
            id="token-not-a-header-value",
        ),
        pytest.param(
            b"access_token=" + SECRET_TOKEN.encode() + b"&expires_in=28800", id="form-encoded"
        ),
        pytest.param(b'{"access_token": "' + SECRET_TOKEN.encode(), id="truncated"),
    ],
)
async def test_an_unusable_token_reply_is_a_clear_api_error_that_keeps_the_token_out(
    shared_emulator: Emulator, body: bytes
) -> None:
    emulator = shared_emulator
    emulator.faults.token_body = body
    lookups_before = emulator.state.count("GET", "profile.get")
    async with client_for(emulator) as mp:
        with pytest.raises(APIError) as info:
            await mp.profiles.get(emulator.seeded_mpids[0])
    error = info.value
    assert isinstance(error, UnexpectedResponse)
    assert "/oauth/token" in str(error)
    for text in (str(error), repr(error), error.body_excerpt):
        assert SECRET_TOKEN not in text
    # No lookup went out without a token.
    assert emulator.state.count("GET", "profile.get") == lookups_before


async def steady_lookups(
    client: MParticle, mpids: list[int], seconds: float, workers: int = 8
) -> collections.Counter[str]:
    """Look profiles up from ``workers`` loops for ``seconds``; count outcomes by kind."""
    outcomes: collections.Counter[str] = collections.Counter()
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + seconds

    async def worker(offset: int) -> None:
        i = offset
        while loop.time() < stop_at:
            try:
                await client.profiles.get(mpids[i % len(mpids)])
            except APIError as exc:
                outcomes[type(exc).__name__] += 1
            else:
                outcomes["ok"] += 1
            i += workers
            await asyncio.sleep(0.005)

    await asyncio.gather(*(worker(n) for n in range(workers)))
    return outcomes


async def test_tokens_expiring_every_two_seconds_never_surface_a_401_to_callers(
    emulator_thread,
) -> None:
    run_seconds = 12.0  # six lifetimes of each server's tokens
    # One server says its tokens live 2 s (the client refreshes ahead of expiry); the other
    # says 8 hours but drops them after 2 s (the client learns from the 401 and retries).
    honest = emulator_thread(profiles=50, token_lifetime=2.0, faults=Faults(token_delay=0.2))
    early = emulator_thread(
        profiles=50, faults=Faults(token_dies_after=2.0, token_delay=0.2, error_rate_503=0.02)
    )
    async with client_on(honest, retry=FAST) as a, client_on(early, retry=FAST) as b:
        outcomes_a, outcomes_b = await assert_bounded(
            asyncio.gather(
                steady_lookups(a, honest.emu.seeded_mpids, run_seconds),
                steady_lookups(b, early.emu.seeded_mpids, run_seconds),
            ),
            run_seconds + 30,
        )
    assert set(outcomes_a) == {"ok"} and set(outcomes_b) == {"ok"}, (outcomes_a, outcomes_b)
    expiries = int(run_seconds / 2.0)
    # Refreshed ahead of time (half the lifetime before expiry): about one token a second.
    assert expiries <= honest.emu.state.token_requests <= 2 * expiries + 3
    # Dropped early: the server did answer 401s, and each expiry cost one shared token call.
    assert early.emu.state.statuses[401] > 0
    assert expiries <= early.emu.state.token_requests <= expiries + 3

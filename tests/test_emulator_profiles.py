"""The Profile API end to end over a real loopback socket, against the emulator."""

from __future__ import annotations

import asyncio
import logging

import pytest
from conftest import client_for

from mp_async import MParticle, RetryPolicy, Session
from mp_async.auth import OAuthClientCredentials
from mp_async.emulator import Emulator
from mp_async.errors import NotFound, RateLimited, ServerError, Unauthorized


class RecordingSleep:
    """Really sleeps, and remembers how long it was asked to."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(seconds)


def fast_retry(**kwargs) -> Session:
    return Session(retry=RetryPolicy(backoff_base=0.01, backoff_max=0.05, **kwargs))


async def test_get_and_resolve_find_seeded_profiles(mp: MParticle, emulator: Emulator) -> None:
    mpid = emulator.seeded_mpids[3]
    profile = await mp.profiles.get(mpid, fields=["user_identities"])
    assert profile.mpid == mpid
    assert profile.user_attributes == {}  # not asked for
    customer_id = profile.identity("customer_id")
    assert customer_id is not None
    for method in ("POST", "GET"):
        resolved = await mp.profiles.resolve("customer_id", customer_id, method=method)
        assert resolved.mpid == mpid
    assert emulator.state.count("POST", "profile.resolve") == 1
    assert emulator.state.count("GET", "profile.resolve_get") == 1


async def test_unknown_mpid_is_not_found(mp: MParticle) -> None:
    with pytest.raises(NotFound, match="no profile for MPID 12345"):
        await mp.profiles.get(12345)


async def test_429_with_retry_after_1_waits_a_second_then_succeeds(emulator: Emulator) -> None:
    sleep = RecordingSleep()
    emulator.faults.fail_next(429, headers={"Retry-After": "1"})
    async with client_for(emulator, session=Session(sleep=sleep)) as mp:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await mp.profiles.get(emulator.seeded_mpids[0])
        assert loop.time() - started >= 1.0
    assert sleep.calls == [1.0]
    assert emulator.state.statuses[429] == 1


async def test_503s_are_retried_then_succeed(emulator: Emulator) -> None:
    emulator.faults.fail_next(503, count=2)
    async with client_for(emulator, session=fast_retry()) as mp:
        await mp.profiles.get(emulator.seeded_mpids[0])
    assert emulator.state.statuses[503] == 2
    assert emulator.state.count("GET", "profile.get") == 3


async def test_retries_exhausted_raise_server_error(emulator: Emulator) -> None:
    emulator.faults.error_rate_503 = 1.0
    async with client_for(emulator, session=fast_retry(max_attempts=3)) as mp:
        with pytest.raises(ServerError) as info:
            await mp.profiles.get(emulator.seeded_mpids[0])
    assert info.value.status == 503
    assert emulator.state.count("GET", "profile.get") == 3


async def test_a_connection_reset_mid_reply_is_retried(emulator: Emulator) -> None:
    emulator.faults.fail_next(200, reset=True)
    async with client_for(emulator, session=fast_retry()) as mp:
        profile = await mp.profiles.get(emulator.seeded_mpids[0])
    assert profile.mpid == emulator.seeded_mpids[0]
    assert emulator.state.count("GET", "profile.get") == 2


async def test_one_token_request_serves_300_concurrent_lookups(emulator: Emulator) -> None:
    emulator.faults.token_delay = 0.5
    async with client_for(emulator) as mp:
        profiles = await asyncio.gather(
            *(mp.profiles.get(emulator.seeded_mpids[i % 200]) for i in range(300))
        )
    assert len(profiles) == 300
    assert emulator.state.token_requests == 1


async def test_tokens_are_refreshed_across_expiry_without_a_401_reaching_the_caller() -> None:
    async with Emulator(profiles=20, token_lifetime=0.6) as emu:
        async with client_for(emu) as mp:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 2.0
            done = 0
            while loop.time() < deadline:
                await asyncio.gather(*(mp.profiles.get(m) for m in emu.seeded_mpids))
                done += len(emu.seeded_mpids)
                await asyncio.sleep(0.05)
            # and a token expired behind our back (as after a server restart) costs one retry
            emu.state.expire_tokens()
            await asyncio.gather(*(mp.profiles.get(m) for m in emu.seeded_mpids))
    assert done >= 100
    assert emu.state.token_requests >= 4  # refreshed ahead of each expiry, and after the 401
    assert emu.state.statuses[401] >= 1  # the expired token was refused, and recovered


async def test_a_second_401_reaches_the_caller_as_unauthorized(emulator: Emulator) -> None:
    emulator.faults.fail_next(401, count=2, body=b'{"errors":[{"code":"UNAUTHORIZED"}]}')
    async with client_for(emulator) as mp:
        with pytest.raises(Unauthorized):
            await mp.profiles.get(emulator.seeded_mpids[0])
    assert emulator.state.token_requests == 2


async def test_callers_arriving_during_a_throttled_second_wait_at_the_gate() -> None:
    async with Emulator(profiles=50) as emu:
        emu.faults.throttle_rate = 30
        async with client_for(emu) as mp:
            await mp.profiles.get(emu.seeded_mpids[0])  # fetch the token first

            async def arrive(i: int) -> None:
                await asyncio.sleep(i * 0.01)  # one caller every 10 ms, for 0.6 s
                await mp.profiles.get(emu.seeded_mpids[i % 50])

            await asyncio.gather(*(arrive(i) for i in range(60)))
    assert emu.state.count("GET", "profile.get") - emu.state.statuses[429] == 61
    # a 429 closes the gate for everyone: a handful, not one per arrival
    assert 1 <= emu.state.statuses[429] <= 10


async def test_retry_after_beyond_the_deadline_raises_rate_limited(emulator: Emulator) -> None:
    emulator.faults.fail_next(429, headers={"Retry-After": "3600"})
    async with client_for(emulator) as mp:
        with pytest.raises(RateLimited) as info:
            await mp.profiles.get(emulator.seeded_mpids[0])
    assert info.value.retry_after == 3600.0


async def test_get_many_yields_every_mpid_and_never_exceeds_its_concurrency() -> None:
    async with Emulator(profiles=120) as emu:
        emu.faults.latency = 0.02
        wanted = [*emu.seeded_mpids, 111, 222]  # two unknown
        async with client_for(emu) as mp:
            results = [r async for r in mp.profiles.get_many(iter(wanted), concurrency=8)]
    assert sorted(r.mpid for r in results) == sorted(wanted)
    assert {r.mpid for r in results if not r.ok} == {111, 222}
    assert all(isinstance(r.error, NotFound) for r in results if not r.ok)
    assert emu.state.max_in_flight == 8


async def test_get_many_reads_an_async_source_lazily(emulator: Emulator, mp: MParticle) -> None:
    pulled = 0

    async def source():
        nonlocal pulled
        for mpid in emulator.seeded_mpids:
            pulled += 1
            yield mpid

    stream = mp.profiles.get_many(source(), concurrency=4)
    first = [await anext(stream) for _ in range(3)]
    await stream.aclose()  # leaving early cancels what is in flight
    assert len(first) == 3 and all(r.ok for r in first)
    assert pulled < 20  # the input was not materialised


async def test_bad_fields_send_nothing(emulator: Emulator, mp: MParticle) -> None:
    with pytest.raises(ValueError, match="fields"):
        await mp.profiles.get(emulator.seeded_mpids[0], fields=["everything"])
    assert sum(emulator.state.requests.values()) == 0


async def test_cancellation_propagates_and_leaves_no_connection_checked_out(
    emulator: Emulator, mp: MParticle
) -> None:
    await mp.profiles.get(emulator.seeded_mpids[0])
    emulator.faults.latency = 5.0
    task = asyncio.create_task(mp.profiles.get(emulator.seeded_mpids[1]))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    connector = mp.session._client_session().connector
    assert connector is not None and len(connector._acquired) == 0


async def test_secrets_never_reach_reprs_logs_or_errors(emulator: Emulator, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    state = emulator.state
    texts: list[str] = []
    async with client_for(emulator, session=fast_retry()) as mp:
        emulator.faults.fail_next(503)
        await mp.profiles.get(emulator.seeded_mpids[0])
        for call in (mp.profiles.get(999), mp.profiles.get(emulator.seeded_mpids[0], fields="x")):
            try:
                await call
            except Exception as exc:
                texts.append(str(exc))
                texts.append(repr(exc))
        texts += [repr(mp), repr(mp.oauth), repr(mp.identity_auth), repr(mp.events_auth)]
    wrong = OAuthClientCredentials(
        state.client_id, "a-wrong-secret-xyz", token_url=emulator.hosts.token_url
    )
    async with MParticle(oauth=wrong, workspace=emulator.workspace, hosts=emulator.hosts) as mp:
        with pytest.raises(Unauthorized) as info:
            await mp.profiles.get(1)
        texts += [str(info.value), repr(info.value), info.value.body_excerpt]
    texts += [r.getMessage() for r in caplog.records]
    everything = "\n".join(texts)
    secrets = [state.client_secret, state.api_secret, "a-wrong-secret-xyz", *state.tokens]
    assert len(texts) > 10
    for secret in secrets:
        assert secret not in everything

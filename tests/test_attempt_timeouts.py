"""The per-attempt timeout over a real loopback socket, and the connection slots behind it.

An attempt may take ``timeout`` seconds from the moment it has a connection slot: connecting,
sending and reading the whole reply. Waiting for a free connection does not count.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from mp_async import RetryPolicy, Session
from mp_async.emulator import Emulator
from mp_async.errors import RequestTimeout
from mp_async.request import Request
from mp_async.session import _Slots, _Watchdog
from mp_async.testing import client_for

ONE_TRY = RetryPolicy(max_attempts=1)


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """Routes that answer late, never, or a byte at a time; the base URL."""

    async def after(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "0")))
        return web.json_response({"ok": True})

    async def trickle(request: web.Request) -> web.StreamResponse:
        reply = web.StreamResponse(headers={"Content-Type": "application/json"})
        reply.content_length = 1000
        await reply.prepare(request)
        for _ in range(1000):  # a byte every 50 ms: never a pause long enough for a read timeout
            await reply.write(b" ")
            await asyncio.sleep(0.05)
        return reply

    app = web.Application()
    app.router.add_get("/after", after)
    app.router.add_get("/trickle", trickle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)  # handlers still sleeping are cut
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_an_attempt_past_its_timeout_raises_request_timeout_and_is_retried(
    server: str,
) -> None:
    async with Session(timeout=0.2, retry=RetryPolicy(max_attempts=2, backoff_base=0.01)) as s:
        started = time.monotonic()
        with pytest.raises(RequestTimeout, match=r"timeout of 0\.2 s") as caught:
            await s.send(Request("GET", f"{server}/after?s=30"))
        assert time.monotonic() - started < 10  # two attempts cut, not the 30 s reply awaited
    assert caught.value.path == "/after"


async def test_a_reply_that_trickles_in_is_cut_at_the_timeout(server: str) -> None:
    # A byte every 50 ms: a timeout between two reads never fires; the attempt's does.
    async with Session(timeout=0.3, retry=ONE_TRY) as session:
        started = time.monotonic()
        with pytest.raises(RequestTimeout):
            await session.send(Request("GET", f"{server}/trickle"))
        assert time.monotonic() - started < 10  # the whole reply would take 50 s


async def test_time_queued_for_a_connection_does_not_count(server: str) -> None:
    # One connection, six requests of 0.2 s each with a 0.5 s timeout: the last one waits about
    # a second for the connection, and none of them times out.
    async with Session(timeout=0.5, max_connections=1, retry=ONE_TRY) as session:
        replies = await asyncio.gather(
            *(session.send(Request("GET", f"{server}/after?s=0.2")) for _ in range(6))
        )
    assert [reply.json() for reply in replies] == [{"ok": True}] * 6


async def test_an_injected_session_s_pool_size_is_respected_too(server: str) -> None:
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as http:
        session = Session(client_session=http, timeout=0.5, retry=ONE_TRY)
        replies = await asyncio.gather(
            *(session.send(Request("GET", f"{server}/after?s=0.2")) for _ in range(6))
        )
        await session.close()
    assert [reply.json() for reply in replies] == [{"ok": True}] * 6


async def test_a_short_timeout_is_kept_beside_a_long_one_already_in_flight(server: str) -> None:
    async with Session(timeout=30, retry=ONE_TRY) as session:
        long = asyncio.ensure_future(session.send(Request("GET", f"{server}/after?s=2")))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(RequestTimeout):
            await session.send(Request("GET", f"{server}/after?s=30", timeout=0.2))
        assert time.monotonic() - started < 1.5  # not held until the long one's end
        assert not long.done()
        assert (await long).json() == {"ok": True}


async def test_the_caller_cancelling_is_a_cancellation_not_a_timeout(server: str) -> None:
    async with Session(timeout=30, retry=ONE_TRY) as session:
        lookup = asyncio.ensure_future(session.send(Request("GET", f"{server}/after?s=30")))
        await asyncio.sleep(0.1)
        lookup.cancel()
        with pytest.raises(asyncio.CancelledError):
            await lookup
        # The slot it held is free again: the next request goes through.
        assert (await session.send(Request("GET", f"{server}/after"))).json() == {"ok": True}


async def test_a_view_timeout_cuts_a_lookup_and_the_client_still_works(
    mp_emulator: Emulator,
) -> None:
    mpid = mp_emulator.seeded_mpids[0]
    async with client_for(mp_emulator, retry=ONE_TRY, max_connections=1) as mp:
        await mp.profiles.get(mpid)  # the token first
        mp_emulator.faults.latency = 0.5
        with pytest.raises(RequestTimeout):
            await mp.profiles.with_options(timeout=0.1).get(mpid)
        mp_emulator.faults.latency = 0.0
        assert (await mp.profiles.get(mpid)).mpid == mpid  # the one connection slot came back


async def test_a_task_that_once_swallowed_a_cancellation_still_gets_its_timeout(
    server: str,
) -> None:
    async with Session(timeout=0.2, retry=ONE_TRY) as session:

        async def worker() -> None:
            me = asyncio.current_task()
            assert me is not None
            me.cancel()
            try:  # user code that swallows a cancellation (on 3.11+ the task keeps counting it)
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                pass
            await session.send(Request("GET", f"{server}/after?s=30"))

        with pytest.raises(RequestTimeout):
            await asyncio.wait_for(asyncio.ensure_future(worker()), 10)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tasks count cancellations from 3.11")
async def test_a_timeout_swallowed_inside_an_attempt_is_taken_back() -> None:
    watchdog = _Watchdog()

    async def attempt() -> int:
        task = watchdog.start(0.01)
        try:
            await asyncio.sleep(1)  # cancelled by the watchdog ...
        except asyncio.CancelledError:
            pass  # ... and swallowed on the way, as a library might
        finally:
            watchdog.stop(task)
        return task.cancelling()

    assert await asyncio.ensure_future(attempt()) == 0  # not left counted against the task
    watchdog.close()


# --- the slots, alone ------------------------------------------------------------------------


async def take(slots: _Slots) -> None:
    if not slots.take_nowait():
        await slots.wait()


async def one_held_two_queued() -> tuple[_Slots, asyncio.Future[None], asyncio.Future[None]]:
    slots = _Slots(1)
    await take(slots)
    first = asyncio.ensure_future(take(slots))
    second = asyncio.ensure_future(take(slots))
    await asyncio.sleep(0)
    return slots, first, second


async def test_slots_are_handed_out_first_come_first_served() -> None:
    slots = _Slots(1)
    await take(slots)
    order: list[int] = []

    async def waiter(n: int) -> None:
        await take(slots)
        order.append(n)
        slots.release()

    tasks = [asyncio.ensure_future(waiter(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert order == [] and len(slots.waiters) == 3
    slots.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    assert slots.free == 1 and not slots.waiters


async def test_a_waiter_cancelled_while_queued_leaves_no_hole() -> None:
    slots, first, second = await one_held_two_queued()
    first.cancel()
    await asyncio.sleep(0)
    assert first.cancelled()
    slots.release()
    await asyncio.wait_for(second, 1)  # the slot went to the next one in line
    assert slots.free == 0 and not slots.waiters


async def test_a_waiter_handed_a_slot_as_it_is_cancelled_passes_it_on() -> None:
    slots, first, second = await one_held_two_queued()
    slots.release()  # hands the slot to first ...
    first.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)
    assert slots.free == 0 and not slots.waiters
    slots.release()
    assert slots.free == 1

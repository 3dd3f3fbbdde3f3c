"""Cancelling work while requests are in flight: no hang, no leftover task, no warning."""

from __future__ import annotations

import asyncio
import gc
import socket
import sys
import warnings

import pytest
from yarl import URL

from mp_async import MParticle, RetryPolicy
from mp_async.emulator import Emulator
from mp_async.emulator.faults import Faults
from mp_async.errors import ClientClosed

from .conftest import (
    acquired_connections,
    assert_bounded,
    assert_no_resource_warnings,
    client_on,
    other_tasks,
    until,
)

pytestmark = pytest.mark.faults

# asyncio.TaskGroup, asyncio.timeout and Task.cancelling() are Python 3.11's.
needs_311 = pytest.mark.skipif(sys.version_info < (3, 11), reason="Python 3.11 asyncio")


async def lookups_cancelled_after(client: MParticle, mpids: list[int], seconds: float) -> None:
    """Start a lookup per MPID in a task group, and cancel the group after ``seconds``."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds), asyncio.TaskGroup() as group:
            for mpid in mpids:
                group.create_task(client.profiles.get(mpid))


@needs_311
async def test_cancelling_lookups_in_flight_leaves_no_task_and_an_idle_pool(
    emulator_thread,
) -> None:
    server = emulator_thread(profiles=50, faults=Faults(latency=5.0))
    async with client_on(server) as client:
        await assert_bounded(lookups_cancelled_after(client, server.emu.seeded_mpids, 0.3), 5)
        assert acquired_connections(client) == 0
        assert other_tasks() == set()
    assert_no_resource_warnings()


@needs_311
async def test_cancelling_callers_waiting_for_a_token_then_closing_leaves_no_task(
    emulator_thread,
) -> None:
    server = emulator_thread(profiles=50, faults=Faults(token_delay=5.0))
    client = client_on(server)
    async with client:
        await assert_bounded(lookups_cancelled_after(client, server.emu.seeded_mpids, 0.3), 5)
    # The token fetch the callers were waiting for does not outlive the client.
    assert other_tasks() == set()
    assert_no_resource_warnings()


async def test_closing_the_client_stops_a_retry_that_is_waiting_to_try_again(
    emulator_thread,
) -> None:
    server = emulator_thread(profiles=5, faults=Faults(error_rate_503=1.0))
    client = client_on(server, retry=RetryPolicy(backoff_base=30, backoff_max=30))
    async with client:
        lookup = asyncio.create_task(client.profiles.get(server.emu.seeded_mpids[0]))
        await until(lambda: server.emu.state.statuses[503] > 0)
    with pytest.raises(ClientClosed):
        await assert_bounded(lookup, 2)
    assert other_tasks() == set()


@needs_311
async def test_closing_the_client_fails_lookups_still_queued_for_a_connection(
    emulator_thread,
) -> None:
    server = emulator_thread(profiles=20, faults=Faults(latency=5.0))
    client = client_on(server, max_connections=2)
    async with client:
        lookups = [asyncio.create_task(client.profiles.get(m)) for m in server.emu.seeded_mpids]
        await until(lambda: server.emu.state.in_flight == 2)
    outcomes = await assert_bounded(asyncio.gather(*lookups, return_exceptions=True), 2)
    # Closed, not cancelled: the callers' own tasks were never asked to stop.
    assert all(isinstance(outcome, ClientClosed) for outcome in outcomes), outcomes
    assert other_tasks() == set()


@needs_311
def test_the_loop_shutting_down_with_lookups_in_flight_does_not_hang_or_warn(
    emulator_thread,
) -> None:
    server = emulator_thread(profiles=50, faults=Faults(latency=5.0, token_delay=0.2))

    async def main() -> None:
        async with client_on(server) as client:
            await lookups_cancelled_after(client, server.emu.seeded_mpids, 0.1)

    asyncio.run(asyncio.wait_for(main(), 5))
    assert_no_resource_warnings()


async def test_the_emulator_stopping_closes_connections_still_waiting_to_be_accepted() -> None:
    # asyncio (3.11) accepts a connection in the same loop pass as the server's close(), fails
    # to attach its transport and leaks the socket; the emulator lets the backlog in first.
    emulator = Emulator()
    await emulator.start()
    port = URL(emulator.url).port
    assert port is not None
    waiting = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the loop has seen them and is accepting them as the stop begins
    await emulator.stop()
    for connection in waiting:
        connection.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []

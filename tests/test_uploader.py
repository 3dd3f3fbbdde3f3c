"""BatchUploader: background bulk upload that flushes on size, interval and exit, applies
backpressure, and hands back every batch it could not send."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from conftest import client_for

from mp_async import RetryPolicy, Session
from mp_async.api.events import Batch, EventsAPI, FailedBatch, UploadAborted
from mp_async.api.uploader import BatchUploader, UploaderOptions
from mp_async.auth import BasicAuth
from mp_async.emulator import Emulator
from mp_async.emulator.events import duplicate_count, source_request_ids
from mp_async.errors import ClientClosed, Forbidden, InvalidRequest, MParticleError
from mp_async.request import Request, Response

FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05)
NEVER = 3600.0  # a flush interval that never comes round within a test


def batch(i: int) -> Batch:
    return Batch("production", user_identities={"customer_id": f"c-{i}"}, user_attributes={"n": i})


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds; a guard against hanging, not a timing assertion."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition never held")


def uploader_tasks() -> set[asyncio.Task[Any]]:
    """Tasks of this loop running a BatchUploader's code (its workers and its ticker)."""
    return {
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "").startswith("BatchUploader.")
    }


class GatedSession(Session):
    """A Session whose requests wait until ``gate`` is set (a server that does not answer)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = asyncio.Event()
        self.waiting = 0

    async def send(self, request: Request, auth: Any = None) -> Response:
        self.waiting += 1
        await self.gate.wait()
        return await super().send(request, auth)


def gated_api(emu: Emulator) -> tuple[GatedSession, EventsAPI]:
    session = GatedSession(retry=FAST)
    auth = BasicAuth(emu.state.api_key, emu.state.api_secret)
    return session, EventsAPI(session, auth, emu.hosts)


async def test_a_full_chunk_is_sent_without_waiting_for_the_interval(emulator: Emulator):
    async with (
        client_for(emulator) as mp,
        mp.events.uploader(max_batch=10, flush_interval=NEVER) as up,
    ):
        for i in range(13):
            await up.add(batch(i))
        await eventually(lambda: len(emulator.state.event_batches) == 10)
        assert up.pending == 3

    assert emulator.state.count("POST", "events.bulk") == 2
    assert len(emulator.state.event_batches) == 13 and up.sent == 13


async def test_a_partial_chunk_is_sent_when_the_interval_passes(emulator: Emulator):
    async with client_for(emulator) as mp, mp.events.uploader(flush_interval=0.05) as up:
        for i in range(3):
            await up.add(batch(i))
        await eventually(lambda: up.pending == 0)
        assert len(emulator.state.event_batches) == 3  # inside the block, before exit

    assert emulator.state.count("POST", "events.bulk") == 1


async def test_leaving_the_block_sends_everything(emulator: Emulator):
    async with client_for(emulator) as mp, mp.events.uploader(flush_interval=NEVER) as up:
        for i in range(7):
            await up.add(batch(i))
        assert emulator.state.event_batches == []

    assert len(emulator.state.event_batches) == 7
    assert emulator.state.count("POST", "events.bulk") == 1
    assert (up.sent, up.pending, up.failed) == (7, 0, [])
    assert uploader_tasks() == set()


async def test_flush_waits_until_everything_added_is_sent(emulator: Emulator):
    async with client_for(emulator) as mp, mp.events.uploader(flush_interval=NEVER) as up:
        for i in range(5):
            await up.add(batch(i))
        await up.flush()
        assert len(emulator.state.event_batches) == 5 and up.pending == 0


async def test_add_waits_when_max_pending_batches_are_outstanding(emulator: Emulator):
    session, api = gated_api(emulator)
    async with session, api.uploader(max_batch=5, max_pending=10, flush_interval=NEVER) as up:
        try:
            for i in range(10):
                await up.add(batch(i))
            eleventh = asyncio.ensure_future(up.add(batch(10)))
            await eventually(lambda: session.waiting == 2)
            await asyncio.sleep(0.02)
            assert not eleventh.done()
            assert up.pending == 10
        finally:
            session.gate.set()  # else a failed assertion would leave the exit waiting forever
        await asyncio.wait_for(eleventh, 5)

    assert up.sent == 11 and len(emulator.state.event_batches) == 11


async def test_add_sends_the_buffer_when_max_pending_is_below_max_batch(emulator: Emulator):
    # Three outstanding batches never make a chunk of ten: add must send them, not wait for
    # the interval.
    async with (
        client_for(emulator) as mp,
        mp.events.uploader(max_batch=10, max_pending=3, flush_interval=NEVER) as up,
    ):

        async def add_all() -> None:
            for i in range(8):
                await up.add(batch(i))

        await asyncio.wait_for(add_all(), 5)
        assert up.sent >= 5

    assert (up.sent, up.pending, up.failed) == (8, 0, [])
    assert len(emulator.state.event_batches) == 8


async def test_bad_input_is_refused_by_add_and_nothing_is_sent(emulator: Emulator):
    async with client_for(emulator) as mp, mp.events.uploader() as up:
        with pytest.raises(InvalidRequest, match="environment"):
            await up.add({"mpid": 1})
        with pytest.raises(InvalidRequest, match="limit of 100"):
            await up.add(
                {
                    "environment": "production",
                    "mpid": 1,
                    "user_attributes": {str(i): i for i in range(101)},
                }
            )
        assert up.pending == 0

    assert sum(emulator.state.requests.values()) == 0


async def test_add_after_the_block_raises_client_closed(mp: Any):
    async with mp.events.uploader() as up:
        pass

    with pytest.raises(ClientClosed):
        await up.add(batch(1))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_batch": 101},
        {"max_batch": 0},
        {"max_pending": 0},
        {"concurrency": 0},
        {"flush_interval": 0},
        {"cancel_timeout": float("inf")},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any]) -> None:
    api = EventsAPI(Session(), BasicAuth("key", "secret"))

    with pytest.raises(InvalidRequest, match=next(iter(kwargs))):
        BatchUploader(api, **kwargs)
    with pytest.raises(InvalidRequest, match=next(iter(kwargs))):
        api.uploader(**kwargs)


def test_events_uploader_takes_and_documents_every_option_of_batch_uploader() -> None:
    options = dict(inspect.signature(BatchUploader).parameters)
    del options["api"]
    del options["spool"]  # the factory takes a path (and its durability) instead of a Spool
    assert {"spool", "durability"} <= set(inspect.signature(EventsAPI.uploader).parameters)

    assert set(UploaderOptions.__annotations__) == set(options)
    for name, parameter in options.items():
        assert f"{name}={parameter.default!r}" in (EventsAPI.uploader.__doc__ or "")


async def test_batches_that_fail_go_to_failed_and_on_failure(emulator: Emulator):
    reported: list[FailedBatch] = []
    wrong = BasicAuth(emulator.state.api_key, "wrong-secret")
    async with (
        client_for(emulator, events_auth=wrong) as mp,
        mp.events.uploader(max_batch=4, on_failure=reported.extend) as up,
    ):
        for i in range(10):
            await up.add(batch(i))

    # Handed to on_failure, and only counted: a long-running worker keeps no growing list.
    assert len(reported) == 10 and up.failed == [] and up.failed_count == 10
    assert all(isinstance(f.error, Forbidden) for f in reported)
    assert sorted(f.batch.user_attributes["n"] for f in reported) == list(range(10))
    assert up.sent == 0 and up.pending == 0


async def test_without_on_failure_the_batches_are_kept_in_failed(emulator: Emulator):
    wrong = BasicAuth(emulator.state.api_key, "wrong-secret")
    async with (
        client_for(emulator, events_auth=wrong) as mp,
        mp.events.uploader(max_batch=4) as up,
    ):
        for i in range(10):
            await up.add(batch(i))
    assert sorted(f.batch.user_attributes["n"] for f in up.failed) == list(range(10))
    assert up.failed_count == 10


async def test_batches_an_on_failure_that_raised_did_not_take_are_kept(emulator: Emulator):
    def broken(failures: list[FailedBatch]) -> None:
        raise RuntimeError("dead-letter queue is down")

    wrong = BasicAuth(emulator.state.api_key, "wrong-secret")
    async with (
        client_for(emulator, events_auth=wrong) as mp,
        mp.events.uploader(max_batch=4, on_failure=broken) as up,
    ):
        for i in range(6):
            await up.add(batch(i))
    assert sorted(f.batch.user_attributes["n"] for f in up.failed) == list(range(6))


@pytest.mark.faults
async def test_a_server_failing_a_fifth_of_requests_loses_no_batch():
    # Two attempts a request, so some chunks fail twice and come back in .failed.
    retry = RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.02)
    async with Emulator(seed=11) as emu, client_for(emu, retry=retry) as mp:
        emu.faults.error_rate_503, emu.faults.error_rate_500 = 0.10, 0.05
        emu.faults.reset_rate = 0.05
        async with mp.events.uploader(max_batch=10, concurrency=4) as up:
            for i in range(2000):
                await up.add(batch(i))

    accepted = set(source_request_ids(emu.state))
    failed = {f.source_request_id for f in up.failed}
    assert up.sent + len(up.failed) == 2000
    assert len(accepted) == len(emu.state.event_batches) == up.sent
    assert accepted.isdisjoint(failed) and len(accepted | failed) == 2000
    assert up.failed and all(isinstance(f.error, MParticleError) for f in up.failed)
    assert duplicate_count(emu.state) == 0


@pytest.mark.faults
async def test_shutdown_under_load_sends_every_batch_of_every_producer():
    async with Emulator() as emu, client_for(emu, retry=FAST) as mp:
        emu.faults.latency = 0.01
        async with mp.events.uploader(max_batch=20, max_pending=50, concurrency=4) as up:

            async def produce(worker: int) -> None:
                for i in range(400):
                    await up.add(batch(worker * 1000 + i))

            await asyncio.gather(*(produce(w) for w in range(5)))
            assert up.pending > 0  # leaving the block with work still in flight

    assert (up.sent, up.pending, up.failed) == (2000, 0, [])
    assert len(set(source_request_ids(emu.state))) == len(emu.state.event_batches) == 2000
    assert emu.state.max_in_flight <= 4


async def test_cancelling_the_owner_sends_what_it_has_then_cancels(emulator: Emulator):
    added = asyncio.Event()
    holder: list[BatchUploader] = []

    async def owner() -> None:
        async with (
            client_for(emulator, retry=FAST) as mp,
            mp.events.uploader(max_batch=10, flush_interval=NEVER) as up,
        ):
            holder.append(up)
            for i in range(55):
                await up.add(batch(i))
            added.set()
            await asyncio.Event().wait()  # a worker's loop, until it is cancelled

    task = asyncio.ensure_future(owner())
    await added.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)

    [up] = holder
    assert (up.sent, up.failed, up.pending) == (55, [], 0)
    assert len(emulator.state.event_batches) == 55


@pytest.mark.parametrize("cancellations", [1, 2])
async def test_cancelling_the_owner_hands_back_what_cannot_be_sent_in_time(
    emulator: Emulator, cancellations: int
) -> None:
    session, api = gated_api(emulator)  # a server that never answers
    added = asyncio.Event()
    holder: list[BatchUploader] = []
    # Once, the owner waits out cancel_timeout; twice, it must not: give it one it would notice.
    cancel_timeout = 0.2 if cancellations == 1 else 10.0

    async def owner() -> None:
        async with (
            session,
            api.uploader(
                max_batch=10, flush_interval=NEVER, concurrency=1, cancel_timeout=cancel_timeout
            ) as up,
        ):
            holder.append(up)
            for i in range(25):
                await up.add(batch(i))
            added.set()
            await asyncio.Event().wait()

    task = asyncio.ensure_future(owner())
    await added.wait()
    await eventually(lambda: session.waiting == 1)  # one chunk in flight, one queued, 5 buffered
    task.cancel()
    if cancellations == 1:
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
    else:
        await eventually(lambda: "state='closing'" in repr(holder[0]))  # waiting for the server
        task.cancel()
        # The second cancellation ends the wait at once, well inside cancel_timeout.
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, cancel_timeout / 2)

    [up] = holder
    assert len(up.failed) == 25 and up.sent == 0 and up.pending == 0
    assert all(isinstance(f.error, UploadAborted) for f in up.failed)
    assert sorted(f.batch.user_attributes["n"] for f in up.failed) == list(range(25))
    assert emulator.state.event_batches == []


async def test_cancelling_the_owner_during_the_final_flush_sends_for_cancel_timeout(
    emulator: Emulator,
):
    session, api = gated_api(emulator)  # requests wait until the test lets the server answer
    holder: list[BatchUploader] = []

    async def owner() -> None:
        async with (
            session,
            api.uploader(
                max_batch=10, flush_interval=NEVER, concurrency=1, cancel_timeout=NEVER
            ) as up,
        ):
            holder.append(up)
            for i in range(25):
                await up.add(batch(i))
        # Leaving the block: the final flush waits for the server.

    task = asyncio.ensure_future(owner())
    await eventually(lambda: session.waiting == 1 and "state='closing'" in repr(holder[0]))
    task.cancel()
    await asyncio.sleep(0)  # the cancellation lands in the final flush
    session.gate.set()  # and the server answers within cancel_timeout
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)

    [up] = holder
    assert (up.sent, up.failed, up.pending) == (25, [], 0)
    assert len(emulator.state.event_batches) == 25


async def test_cancelling_the_owner_during_the_final_flush_hands_back_the_rest(
    emulator: Emulator,
):
    session, api = gated_api(emulator)  # a server that never answers
    holder: list[BatchUploader] = []

    async def owner() -> None:
        async with (
            session,
            api.uploader(
                max_batch=10, flush_interval=NEVER, concurrency=1, cancel_timeout=0.05
            ) as up,
        ):
            holder.append(up)
            for i in range(25):
                await up.add(batch(i))

    task = asyncio.ensure_future(owner())
    await eventually(lambda: session.waiting == 1 and "state='closing'" in repr(holder[0]))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)

    [up] = holder
    assert len(up.failed) == 25 and up.sent == 0 and up.pending == 0
    assert all(isinstance(f.error, UploadAborted) for f in up.failed)


async def test_a_second_close_waits_until_the_first_has_sent_everything(emulator: Emulator):
    session, api = gated_api(emulator)  # requests wait until the test lets the server answer
    async with session:
        up = api.uploader(flush_interval=NEVER)
        up.start()
        for i in range(5):
            await up.add(batch(i))
        first = asyncio.ensure_future(up.close())
        await eventually(lambda: session.waiting == 1)
        second = asyncio.ensure_future(up.close())
        try:
            await asyncio.sleep(0)
            assert not second.done()
        finally:
            session.gate.set()
        await asyncio.wait_for(second, 5)
        assert (up.sent, up.pending, up.failed) == (5, 0, [])
        await first

    assert len(emulator.state.event_batches) == 5


async def test_a_broken_auth_strategy_hands_the_batches_back_with_its_error(emulator: Emulator):
    class BrokenAuth:
        async def apply(self, request: Request, sender: Any) -> Request:
            raise RuntimeError("no key today")

    async with Session(retry=FAST) as session:
        api = EventsAPI(session, BrokenAuth(), emulator.hosts)
        async with api.uploader(max_batch=5) as up:
            for i in range(7):
                await up.add(batch(i))

    assert len(up.failed) == 7 and up.pending == 0
    assert all(isinstance(f.error, RuntimeError) for f in up.failed)

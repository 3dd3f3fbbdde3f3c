"""The events uploader through 30% failures, a server restart and a worker restart mid-run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from mp_async import MParticle, MParticleError, RetryPolicy
from mp_async.api.events import Batch, FailedBatch, UploadAborted
from mp_async.api.uploader import BatchUploader
from mp_async.auth import BasicAuth
from mp_async.emulator.events import source_request_ids
from mp_async.emulator.faults import Faults

from .conftest import assert_bounded, other_tasks, until
from .emulator_thread import EmulatorThread

pytestmark = pytest.mark.faults

TOTAL = 3000


def batch(i: int) -> Batch:
    # Our own ids, so every batch can be traced from the producer to the server.
    return Batch(
        "production",
        user_identities={"customer_id": f"c-{i}"},
        user_attributes={"n": i},
        source_request_id=f"batch-{i:05d}",
    )


def client_on(server: EmulatorThread) -> MParticle:
    state = server.emu.state
    return MParticle(
        events_auth=BasicAuth(state.api_key, state.api_secret),
        hosts=server.emu.hosts,
        retry=RetryPolicy(backoff_base=0.02, backoff_max=0.2),  # the default five attempts
    )


async def worker(
    server: EmulatorThread, batches: Iterable[Batch], uploaders: list[BatchUploader]
) -> None:
    """A worker process's life: a client and an uploader, fed every batch it is given.

    Stopped, it has a moment (``cancel_timeout``) to send what it holds, and hands the rest
    back: a restart that does not wait for a slow server.
    """
    async with client_on(server) as mp:
        uploader = mp.events.uploader(
            max_batch=25, max_pending=200, concurrency=4, flush_interval=0.05, cancel_timeout=0.05
        )
        uploaders.append(uploader)
        async with uploader:
            for item in batches:
                await uploader.add(item)


async def test_the_uploader_accounts_for_every_batch_through_failures_and_restarts(
    emulator_thread,
) -> None:
    server = emulator_thread(
        seed=3,
        faults=Faults(
            error_rate_503=0.20, error_rate_500=0.05, reset_rate=0.05, latency=0.02, seed=3
        ),
    )
    batches = [batch(i) for i in range(TOTAL)]
    handed: list[BatchUploader] = []

    # Worker 1 runs through a server restart, then is itself restarted (its task cancelled)
    # with batches buffered, queued and in flight.
    first = asyncio.ensure_future(worker(server, batches, handed))
    await until(lambda: bool(handed) and handed[0].sent >= TOTAL // 4, 30)
    await asyncio.to_thread(server.restart, 0.3)
    await until(lambda: handed[0].sent >= TOTAL // 2, 30)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await assert_bounded(first, 10)
    [up1] = handed
    added_by_first = up1.sent + len(up1.failed)  # settled: nothing of it is pending
    assert up1.pending == 0 and TOTAL // 2 <= added_by_first < TOTAL
    aborted = {f.source_request_id for f in up1.failed if isinstance(f.error, UploadAborted)}
    assert aborted, "the restart caught batches on their way"

    # Worker 2 re-sends what worker 1 handed back, then carries on where it stopped.
    again: list[Batch] = [f.batch for f in up1.failed]  # type: ignore[misc]
    await assert_bounded(worker(server, [*again, *batches[added_by_first:]], handed), 60)
    up2 = handed[1]
    assert other_tasks() == set()

    received = source_request_ids(server.emu.state)
    still_failed: list[FailedBatch] = up2.failed
    every_id = {b.source_request_id for b in batches}
    # Every batch is accounted for: it reached the server, or it is handed back with why.
    assert set(received) | {f.source_request_id for f in still_failed} == every_id
    assert set(received) <= every_id
    assert all(isinstance(f.error, MParticleError) for f in still_failed)
    assert up2.pending == 0
    # At least once: a batch arrives twice only if it was in flight when worker 1 stopped.
    duplicates = {source for source, count in received.items() if count > 1}
    assert duplicates <= aborted

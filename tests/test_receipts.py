"""Receipts a worker can acknowledge on, ``on_sent`` in acceptance order, and the spool."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mp_async import RetryPolicy
from mp_async.api.events import Batch, FailedBatch, Receipt
from mp_async.api.spool import Spool
from mp_async.auth import BasicAuth
from mp_async.emulator import Emulator
from mp_async.errors import BadRequest, Forbidden, InvalidRequest, ServerError
from mp_async.testing import client_for

FAST = RetryPolicy(max_attempts=2, backoff_base=0.01)


def batch(i: int) -> dict[str, Any]:
    return {"environment": "production", "mpid": i + 1, "user_attributes": {"n": i}}


def spooled(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT source_request_id FROM batches ORDER BY seq")]


# --- receipts --------------------------------------------------------------------------------


async def test_a_receipt_resolves_to_the_id_the_server_accepted(mp_emulator: Emulator) -> None:
    async with client_for(mp_emulator) as mp:
        async with mp.events.uploader(flush_interval=0.05) as up:
            receipt = await up.add(batch(1))
            assert isinstance(receipt, Receipt) and not receipt.done()
            source_request_id = await receipt  # before the block ends: the flush sent it
    assert receipt.accepted and source_request_id == receipt.source_request_id
    [accepted] = mp_emulator.state.event_batches
    assert accepted["source_request_id"] == source_request_id


async def test_thousands_of_receipts_outstanding_do_not_serialise_the_uploader(
    mp_emulator: Emulator,
) -> None:
    mp_emulator.faults.latency = 0.05
    async with client_for(mp_emulator) as mp:
        async with mp.events.uploader(max_batch=100, concurrency=8) as up:
            receipts = [await up.add(batch(i)) for i in range(3000)]
            ids = await asyncio.gather(*receipts)
        assert mp_emulator.state.max_in_flight > 1  # requests overlapped while receipts waited
    assert sorted(ids) == sorted(b["source_request_id"] for b in mp_emulator.state.event_batches)


async def test_a_handed_back_batch_raises_its_error_from_its_receipt(mp_emulator: Emulator) -> None:
    wrong = BasicAuth(mp_emulator.state.api_key, "wrong-secret")
    settled: list[Receipt] = []
    async with client_for(mp_emulator, events_auth=wrong) as mp:
        async with mp.events.uploader(on_failure=lambda failed: None) as up:
            receipt = await up.add(batch(1))
            receipt.add_done_callback(settled.append)
            with pytest.raises(Forbidden):
                await receipt
    assert settled == [receipt] and not receipt.accepted
    assert isinstance(receipt.exception(), Forbidden)


async def test_receipts_nobody_awaits_leave_no_warning(mp_emulator: Emulator) -> None:
    # pytest turns "exception was never retrieved" into an error at the end of the test
    wrong = BasicAuth(mp_emulator.state.api_key, "wrong-secret")
    async with client_for(mp_emulator, events_auth=wrong) as mp:
        async with mp.events.uploader(on_failure=lambda failed: None) as up:
            for i in range(10):
                await up.add(batch(i))
    assert up.failed_count == 10


async def test_on_sent_gets_accepted_batches_in_the_order_they_were_accepted(
    mp_emulator: Emulator,
) -> None:
    mp_emulator.faults.latency = 0.02
    sent_order: list[int] = []
    settled_order: list[int] = []
    async with client_for(mp_emulator) as mp:
        async with mp.events.uploader(
            max_batch=10,
            concurrency=4,
            on_sent=lambda sent: sent_order.extend(b["mpid"] for b in sent),
        ) as up:
            for i in range(200):
                receipt = await up.add(batch(i))
                receipt.add_done_callback(lambda r, mpid=i + 1: settled_order.append(mpid))
    # the order the 202s came back in, which is the order the receipts settled in
    assert sent_order == settled_order
    assert sorted(sent_order) == list(range(1, 201))
    assert mp_emulator.state.max_in_flight > 1  # several requests were in flight at once


# --- the spool -------------------------------------------------------------------------------


async def test_add_returns_once_the_batch_is_in_the_spool(
    mp_emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    async with client_for(mp_emulator) as mp:
        async with mp.events.uploader(spool=str(path), flush_interval=60) as up:
            receipt = await up.add(batch(1))
            assert spooled(path) == [receipt.source_request_id]  # written, not yet sent
        assert receipt.accepted
    assert spooled(path) == []  # delivered: gone from the spool


async def test_an_uploader_on_a_spool_sends_what_it_holds_with_the_original_ids(
    mp_emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    mp_emulator.faults.error_rate_503 = 1.0  # the first process never gets through
    async with client_for(mp_emulator, retry=FAST) as mp:
        async with mp.events.uploader(spool=str(path), on_failure=lambda failed: None) as up:
            ids = [(await up.add(batch(i))).source_request_id for i in range(250)]
    assert sorted(spooled(path)) == sorted(ids)  # handed back for a reason retrying can fix
    mp_emulator.faults.error_rate_503 = 0.0

    async with client_for(mp_emulator) as mp:
        async with mp.events.uploader(spool=str(path)) as up:
            pass
    assert up.recovered == 250 and up.sent == 250
    assert sorted(b["source_request_id"] for b in mp_emulator.state.event_batches) == sorted(ids)
    assert spooled(path) == []


async def test_batches_refused_for_good_leave_the_spool(
    mp_emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    mp_emulator.faults.fail_next(400, path_prefix="/events/v2/bulkevents")
    failed: list[FailedBatch] = []
    async with client_for(mp_emulator) as mp:
        async with mp.events.uploader(spool=str(path), on_failure=failed.extend) as up:
            await up.add(batch(1))
    assert [type(f.error) for f in failed] == [BadRequest]
    assert spooled(path) == []  # sending it again would be refused again


async def test_a_server_error_keeps_the_batch_in_the_spool(
    mp_emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    mp_emulator.faults.error_rate_503 = 1.0
    failed: list[FailedBatch] = []
    async with client_for(mp_emulator, retry=FAST) as mp:
        async with mp.events.uploader(spool=str(path), on_failure=failed.extend) as up:
            receipt = await up.add(batch(1))
    assert isinstance(failed[0].error, ServerError)
    assert spooled(path) == [receipt.source_request_id]


def test_a_bad_spool_setting_is_refused_naming_it() -> None:
    with pytest.raises(InvalidRequest, match="durability"):
        Spool("x.db", durability="sometimes")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="spool"):
        Spool("")


async def test_every_durability_mode_opens_the_file_in_wal_mode(tmp_path: Path) -> None:
    for durability, synchronous in (("process", 1), ("machine", 2)):
        spool = Spool(str(tmp_path / f"{durability}.db"), durability=durability)  # type: ignore[arg-type]
        assert await spool.open() == []
        connection = spool._connection
        assert connection is not None

        def pragma(name: str, connection: sqlite3.Connection = connection) -> Any:
            return connection.execute(f"PRAGMA {name}").fetchone()[0]

        assert await spool._run(pragma, "journal_mode") == "wal"  # on the spool's own thread
        assert await spool._run(pragma, "synchronous") == synchronous
        await spool.close()


async def test_a_typed_batch_comes_back_from_the_spool_as_its_json(
    mp_emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    mp_emulator.faults.error_rate_503 = 1.0
    async with client_for(mp_emulator, retry=FAST) as mp:
        async with mp.events.uploader(spool=str(path), on_failure=lambda failed: None) as up:
            await up.add(Batch("production", mpid=7, user_attributes={"plan": "pro"}))
    mp_emulator.faults.error_rate_503 = 0.0
    failed: list[FailedBatch] = []
    mp_emulator.faults.fail_next(400, path_prefix="/events/v2/bulkevents")
    async with client_for(mp_emulator) as mp:
        async with mp.events.uploader(spool=str(path), on_failure=failed.extend) as up:
            pass
    [handed_back] = failed
    assert handed_back.batch["mpid"] == 7  # type: ignore[index]
    assert handed_back.batch["user_attributes"] == {"plan": "pro"}  # type: ignore[index]


async def test_the_interval_mode_returns_at_once_and_commits_before_sending(
    mp_emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    async with client_for(mp_emulator) as mp:
        async with mp.events.uploader(spool=str(path), durability="interval") as up:
            receipts = [await up.add(batch(i)) for i in range(50)]
            assert not any(r.durable for r in receipts)  # add did not wait for the disk
            assert spooled(path) == []
            await receipts[-1]  # accepted: so it was written before it was sent
            assert all(r.durable for r in receipts)
    assert spooled(path) == []  # and struck off once delivered
    assert len(mp_emulator.state.event_batches) == 50


async def test_a_batch_delivered_before_its_write_is_never_written(tmp_path: Path) -> None:
    from mp_async.api.event_encoding import encode_batch

    spool = Spool(str(tmp_path / "spool.db"), durability="interval")
    await spool.open()
    item = encode_batch(batch(1))
    written = spool.put(item)
    spool.forget([item.source_request_id])  # accepted before the interval's commit
    await written
    assert await spool.count() == 0
    await spool.close()

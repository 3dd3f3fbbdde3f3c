"""A spooled worker killed with SIGKILL at random points loses nothing: a new process finishes.

The worker (``programs/spool_producer.py``) acknowledges each message once ``add`` returned.
After several kills and one run to the end, the emulator's record must show every message
delivered at least once, and the duplicates bounded by what a kill can leave in doubt: a
request in flight (resent from the spool with the same ``source_request_id``), or the one
message spooled but not yet acknowledged (taken again from the queue, under a new id).
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults.emulator_thread import EmulatorThread

PRODUCER = Path(__file__).parent / "programs" / "spool_producer.py"
COUNT = 20_000
KILLS = 4
MAX_BATCH, CONCURRENCY = 20, 8  # the producer's uploader (the default concurrency)


@pytest.fixture
def served() -> Iterator[EmulatorThread]:
    thread = EmulatorThread()
    thread.start()
    thread.faults.latency = 0.005  # requests are in flight when the kill comes
    try:
        yield thread
    finally:
        thread.stop()


def start(served: EmulatorThread, spool: Path, acks: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(PRODUCER), served.emu.url, str(spool), str(acks), str(COUNT)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def test_a_worker_killed_at_random_points_loses_nothing(
    served: EmulatorThread, tmp_path: Path
) -> None:
    spool, acks = tmp_path / "spool.db", tmp_path / "acks"
    rng = random.Random(20261125)
    for _ in range(KILLS):
        process = start(served, spool, acks)
        time.sleep(rng.uniform(0.02, 0.3))
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.stdout is not None
        process.stdout.close()
    process = start(served, spool, acks)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0 and "finished" in out

    delivered = served.emu.state.event_batches
    ids_of: dict[int, set[str]] = collections.defaultdict(set)
    for batch in delivered:
        ids_of[batch["mpid"]].add(batch["source_request_id"])
    assert set(ids_of) == set(range(1, COUNT + 1))  # every message, at least once
    acknowledged = list(map(int, acks.read_text().split()))
    assert len(acknowledged) >= COUNT - KILLS  # a kill loses at most the acknowledgement in hand

    # Taken again under a new id: only a message spooled but not acknowledged at a kill.
    assert sum(len(ids) > 1 for ids in ids_of.values()) <= KILLS
    # Sent again with the same id: only what was in flight, or settled but not yet struck off.
    resent = len(delivered) - sum(len(ids) for ids in ids_of.values())
    assert resent <= KILLS * (MAX_BATCH * CONCURRENCY + MAX_BATCH)
    assert sum(len(ids) for ids in ids_of.values()) + resent == len(delivered)

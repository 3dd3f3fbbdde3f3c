"""10,000 profile lookups through a server that fails, resets, and stalls a share of replies."""

from __future__ import annotations

import collections

import pytest

from mp_async import MParticleError, RetryPolicy
from mp_async.emulator.faults import Faults

from .conftest import (
    acquired_connections,
    assert_bounded,
    assert_no_resource_warnings,
    client_on,
    other_tasks,
)

pytestmark = pytest.mark.faults

LOOKUPS = 10_000


async def test_ten_thousand_lookups_through_faults_all_come_back_and_leave_nothing_behind(
    emulator_thread,
) -> None:
    server = emulator_thread(
        profiles=500,
        seed=7,
        faults=Faults(
            error_rate_503=0.10,
            error_rate_500=0.02,
            reset_rate=0.02,
            slow_rate=0.01,
            slow_seconds=0.6,  # twice the client's timeout: every slow reply times out
            seed=7,
        ),
    )
    emu = server.emu
    seeded = emu.seeded_mpids
    mpids = [seeded[i % len(seeded)] for i in range(LOOKUPS)]
    client = client_on(
        server,
        timeout=0.3,
        # The default number of attempts, with waits scaled down so the case runs in seconds.
        retry=RetryPolicy(backoff_base=0.01, backoff_max=0.1),
    )
    outcomes: collections.Counter[int] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    async with client:

        async def run() -> None:
            async for result in client.profiles.get_many(mpids, concurrency=64):
                outcomes[int(result.mpid)] += 1
                if result.ok:
                    assert result.profile is not None and result.profile.mpid == result.mpid
                else:
                    assert isinstance(result.error, MParticleError)
                    errors[type(result.error).__name__] += 1

        await assert_bounded(run(), 120)
        assert acquired_connections(client) == 0
        assert other_tasks() == set()

    assert sum(outcomes.values()) == LOOKUPS
    assert outcomes == collections.Counter(mpids)  # each lookup answered exactly once
    failed = sum(errors.values())
    assert failed <= LOOKUPS * 0.001, errors
    # The faults really happened: the server saw far more requests than lookups.
    statuses = emu.state.statuses
    assert statuses[503] > LOOKUPS * 0.05 and statuses[500] > LOOKUPS * 0.01
    assert emu.state.token_requests == 1
    assert_no_resource_warnings()

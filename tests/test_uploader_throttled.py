"""The uploader under the Events API's per-account limit: it converges, it loses nothing."""

from __future__ import annotations

from mp_async import RetryPolicy
from mp_async.emulator import Emulator
from mp_async.testing import client_for


async def test_the_uploader_converges_under_a_throttling_server_without_losing_a_batch(
    mp_emulator: Emulator,
) -> None:
    mp_emulator.faults.throttle_rate = 40  # bulk requests/s; burst 8
    patient = RetryPolicy(max_attempts=10, backoff_base=0.05)
    async with client_for(mp_emulator, retry=patient) as mp:
        async with mp.events.uploader(max_batch=5, concurrency=16, max_pending=500) as up:
            for n in range(600):  # 120 requests: three seconds at the limit
                await up.add({"environment": "production", "mpid": n + 1})
        learned = mp.session.rate_limiter.rate("events")

    assert (up.sent, up.failed) == (600, [])
    assert len({b["mpid"] for b in mp_emulator.state.event_batches}) == 600
    requests = mp_emulator.state.count("POST", "events.bulk")
    throttled = mp_emulator.state.statuses[429]
    # Sixteen senders against a limit of 40/s: the first window and the slow start meet the
    # limit (about one request in eight answered 429 over these three seconds, nearly all at
    # the start), and then the pace holds under it instead of a 429 storm.
    assert throttled <= 0.2 * requests, (throttled, requests)
    assert learned is not None and learned <= 45

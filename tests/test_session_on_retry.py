"""``Session(on_retry=...)``: told of every retry the session decides on, and of nothing else."""

from __future__ import annotations

import aiohttp
import pytest
from conftest import FakeTime

from mp_async import Request, RetryPolicy, Session
from mp_async.errors import NotFound, ServerError
from mp_async.session import RetryEvent

APPS = "https://api.mparticle.com/v1/apps"


async def test_each_retry_is_reported_with_its_status_error_and_wait(
    mocked, fake_time: FakeTime
) -> None:
    mocked.get(APPS, status=429, headers={"Retry-After": "3"})
    mocked.get(APPS, exception=aiohttp.ClientConnectionError("refused"))
    mocked.get(APPS, payload={"data": []})
    seen: list[RetryEvent] = []
    async with Session(
        sleep=fake_time.sleep, clock=fake_time.clock, on_retry=seen.append
    ) as session:
        await session.send(Request("GET", APPS, bucket="platform"))

    assert [(e.attempt, e.status, e.error) for e in seen] == [
        (1, 429, "RateLimited"),
        (2, None, "ConnectError"),
    ]
    assert seen[0].wait == 3.0 and seen[0].bucket == "platform"
    assert (seen[0].method, seen[0].path) == ("GET", "/v1/apps")
    # the waits it reports are the waits it takes
    assert [e.wait for e in seen] == fake_time.sleeps


async def test_a_failure_that_is_not_retried_is_not_reported(mocked, fake_time) -> None:
    mocked.get(APPS, status=404)
    mocked.get(APPS, status=500, repeat=True)
    seen: list[RetryEvent] = []
    async with Session(
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        retry=RetryPolicy(max_attempts=2),
        on_retry=seen.append,
    ) as session:
        with pytest.raises(NotFound):
            await session.send(Request("GET", APPS))
        assert seen == []
        with pytest.raises(ServerError):
            await session.send(Request("GET", APPS))
    # two attempts: one retry between them, none after the last
    assert [(e.attempt, e.status) for e in seen] == [(1, 500)]

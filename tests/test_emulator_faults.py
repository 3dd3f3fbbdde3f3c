"""The emulator's fault controls live in one place and reset as one."""

from __future__ import annotations

import attrs
import pytest

from mp_async.auth.base import AuthStrategy
from mp_async.emulator import Emulator, Faults
from mp_async.request import Request, Response
from mp_async.testing import client_for


def test_clear_puts_every_control_back_to_its_default() -> None:
    faults = Faults(seed=3)
    faults.throttle_rate = 5
    faults.error_rate_503 = faults.error_rate_500 = faults.reset_rate = faults.slow_rate = 0.5
    faults.slow_seconds = faults.latency = faults.token_delay = 1.0
    faults.token_failures = faults.identity_throttle_next = 2
    faults.token_body = b"{}"
    faults.token_dies_after = 1.0
    faults.fail_next(503, count=3)
    faults.throttled("profile", 0.0)

    faults.clear()

    fresh = Faults(seed=3)
    for field in attrs.fields(Faults):
        if field.name != "rng":
            assert getattr(faults, field.name) == getattr(fresh, field.name), field.name


def test_the_throttle_is_a_token_bucket_with_a_fifth_of_a_second_of_burst() -> None:
    faults = Faults(throttle_rate=10)  # a burst of 2
    assert [faults.throttled("profile", 0.0) for _ in range(3)] == [None, None, pytest.approx(0.1)]
    assert faults.throttled("profile", 0.05) == pytest.approx(0.05)  # half a permit back
    assert faults.throttled("profile", 0.1) is None  # a whole one
    assert faults.throttled("events", 0.1) is None  # each API has its own bucket
    assert faults.throttled("profile", 10.0) is None  # a quiet spell refills to the burst only
    assert faults.throttled("profile", 10.0) is None
    assert faults.throttled("profile", 10.0) is not None


def test_percentage_used_is_the_share_of_the_limit_the_last_second_used() -> None:
    faults = Faults(throttle_rate=10, throttle_burst=10)
    assert faults.percentage_used("profile", 0.0) == 0
    for i in range(8):
        faults.throttled("profile", i * 0.1)
    assert faults.percentage_used("profile", 0.75) == 80
    assert faults.percentage_used("profile", 1.45) == 30  # those before 0.45 s have left
    assert Faults().percentage_used("profile", 0.0) is None  # not throttling: no header


async def test_a_throttling_emulator_warns_on_successes(mp_emulator: Emulator) -> None:
    mp_emulator.faults.throttle_rate = 100
    async with client_for(mp_emulator) as mp:
        seen: list[str | None] = []
        send = mp.session.send

        async def recording(request: Request, auth: AuthStrategy | None = None) -> Response:
            response = await send(request, auth)
            if request.bucket == "profile":  # not the token request
                seen.append(response.headers.get("X-mp-rate-limit-percentage-used"))
            return response

        mp.session.send = recording  # type: ignore[method-assign]
        for mpid in mp_emulator.seeded_mpids[:3]:
            await mp.profiles.get(mpid)
    assert seen == ["1", "2", "3"]  # 1, 2 and 3 requests in the last second, of 100/s

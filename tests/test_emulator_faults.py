"""The emulator's fault controls live in one place and reset as one."""

from __future__ import annotations

import attrs

from mp_async.emulator import Faults


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

"""Retry-After parsing and the wait generator, as pure functions."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from mp_async import InvalidRequest, RetryPolicy
from mp_async.retry import Failure, parse_retry_after, retry_waits

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("soon", None),
        ("nan", None),
        ("1", 1.0),
        (" 30 ", 30.0),
        ("0", 0.0),
        ("0.25", 0.25),
        ("-5", 0.0),
        ("inf", float("inf")),
        ("1e9", 1e9),
        (format_datetime(NOW + timedelta(seconds=20), usegmt=True), 20.0),
        (format_datetime(NOW - timedelta(seconds=20), usegmt=True), 0.0),
        ("Tue, 24 Nov 2026 12:00:07 GMT", 7.0),
        ("Tue, 99 Nov 2026 12:00:07 GMT", None),
    ],
)
def test_retry_after_header_table(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_server_directed_wait_gets_no_jitter_and_is_not_capped() -> None:
    waits = retry_waits(RetryPolicy(backoff_max=5.0), random.Random(1))
    assert waits.send(Failure(429, retry_after=30.0)) == 30.0
    assert waits.send(Failure(429, retry_after=0.0)) == 0.0


def test_backoff_grows_exponentially_with_full_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0)
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    samples: list[list[float]] = [[] for _ in ceilings]
    for seed in range(200):
        waits = retry_waits(policy, random.Random(seed))
        for i in range(len(ceilings)):
            samples[i].append(waits.send(Failure(503)))
    for ceiling, values in zip(ceilings, samples, strict=True):
        assert all(0.0 <= v <= ceiling for v in values)
        # full jitter spreads over the whole range, not just near the ceiling
        assert min(values) < ceiling * 0.2 and max(values) > ceiling * 0.8


def test_retry_after_does_not_reset_the_exponential_sequence() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=100.0)
    waits = retry_waits(policy, random.Random(0))
    waits.send(Failure(503))  # step 1 (<= 1)
    waits.send(Failure(429, retry_after=2.0))  # step 2 consumed by the server's wait
    assert waits.send(Failure(503)) <= 4.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": 1.5},
        {"backoff_base": 0},
        {"backoff_max": -1},
        {"max_elapsed": float("inf")},
    ],
)
def test_retry_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidRequest) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert next(iter(kwargs)) in str(info.value)


def test_retry_policy_defaults_are_the_documented_ones() -> None:
    assert RetryPolicy() == RetryPolicy(
        max_attempts=5, backoff_base=0.5, backoff_max=30.0, max_elapsed=120.0
    )
    assert RetryPolicy.never().max_attempts == 1


def test_the_wait_generator_follows_the_pure_backoff_curve() -> None:
    import random

    from mp_async.retry import Failure, backoff_delay, retry_waits

    policy = RetryPolicy(backoff_base=0.5, backoff_max=30.0)
    draws = random.Random(7)
    expected_draws = random.Random(7)
    waits = retry_waits(policy, draws)
    for retry in range(1, 12):
        draw = expected_draws.uniform(0.0, 1.0)
        expected = backoff_delay(retry, policy, draw)
        assert abs(waits.send(Failure(503)) - expected) < 1e-9 * max(1.0, expected)


@pytest.mark.parametrize(
    ("retry", "draw", "expected"),
    [(1, 1.0, 0.5), (2, 1.0, 1.0), (3, 0.5, 1.0), (7, 1.0, 30.0), (50, 1.0, 30.0), (4, 0.0, 0.0)],
)
def test_backoff_delay_table(retry: int, draw: float, expected: float) -> None:
    from mp_async.retry import backoff_delay

    assert backoff_delay(retry, RetryPolicy(backoff_base=0.5, backoff_max=30.0), draw) == expected

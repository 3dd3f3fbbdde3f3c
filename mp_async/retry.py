"""The retry policy, as pure functions: which failures to retry, and how long to wait.

The Session drives these; they are plain functions of plain values (the Session passes in
the clock's readings), table-tested without a socket.
"""

from __future__ import annotations

import math
import random
from collections.abc import Generator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import attrs

from .errors import InvalidRequest

__all__ = [
    "RETRYABLE_STATUSES",
    "Failure",
    "RetryPolicy",
    "backoff_delay",
    "certainly_not_applied",
    "parse_retry_after",
    "retry_waits",
    "should_retry",
]

#: Statuses worth another attempt: throttling and the transient server failures.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0 or math.isinf(value):
        raise InvalidRequest(
            f"RetryPolicy.{attribute.name} must be a positive number, got {value!r}"
        )


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"RetryPolicy.{attribute.name} must be an integer >= 1, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How often and how long to retry: attempts, exponential backoff, and a deadline.

    ``max_attempts`` counts the first try. Waits grow as ``backoff_base * 2**n`` up to
    ``backoff_max``, with full jitter. A server's ``Retry-After`` is waited in full (it is not
    cut to ``backoff_max``), unless it would pass ``max_elapsed``: then the call fails at once
    with ``RateLimited`` rather than sleeping past the deadline.

    A call that is not idempotent (Identity ``modify``, Groups ``create``, Platform ``create``)
    is retried only when the server certainly did not apply it: the connection was never made,
    a 429, or a 503 with ``Retry-After``. ``retry_non_idempotent=True`` retries it after any
    retryable failure, accepting that it may then be applied twice.
    """

    max_attempts: int = attrs.field(default=5, validator=_at_least_one)
    backoff_base: float = attrs.field(default=0.5, validator=_positive)
    backoff_max: float = attrs.field(default=30.0, validator=_positive)
    max_elapsed: float = attrs.field(default=120.0, validator=_positive)
    retry_non_idempotent: bool = False

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that makes one attempt and never retries."""
        return cls(max_attempts=1)


@attrs.frozen
class Failure:
    """What a failed attempt tells the retry decision and the wait generator."""

    status: int | None  # None for a transport failure
    retry_after: float | None = None
    #: False when the request never reached the server (a refused or failed connection).
    sent: bool = True


def certainly_not_applied(failure: Failure) -> bool:
    """True when the server certainly did not act on the request.

    The request never reached it; or it answered 429 (throttled before any work); or 503 with
    ``Retry-After`` (the server says it is not taking requests now and when to come back).
    A 500, 502, 504, a timeout or a connection lost after sending may come after the work.
    """
    if failure.status is None:
        return not failure.sent
    return failure.status == 429 or (failure.status == 503 and failure.retry_after is not None)


def should_retry(failure: Failure, *, idempotent: bool, policy: RetryPolicy) -> bool:
    """Whether this kind of failure may be tried again (attempts and deadline aside)."""
    if failure.status is not None and failure.status not in RETRYABLE_STATUSES:
        return False
    return idempotent or policy.retry_non_idempotent or certainly_not_applied(failure)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or None when it gives no usable hint.

    The header is either delta-seconds or an HTTP-date (RFC 9110 10.2.3). We also accept a
    decimal number of seconds, as some servers send. The meanings, pinned by the tests:

    - ``None``, empty, malformed or ``nan``: None (fall back to exponential backoff);
    - ``0``, a negative number or a date in the past: 0.0 (retry now);
    - ``inf`` or a huge number: that number (the caller compares it with its deadline);
    - a future date: the seconds until it, measured from ``now`` (UTC, defaults to the clock).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isnan(seconds):
            return None
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now if now is not None else datetime.now(timezone.utc)
    return max((when - current).total_seconds(), 0.0)


def backoff_delay(retry: int, policy: RetryPolicy, draw: float) -> float:
    """The wait before retry number ``retry`` (1 for the first) when the server gave no hint.

    ``draw * min(backoff_base * 2 ** (retry - 1), backoff_max)``, with ``draw`` uniform in
    [0, 1]: exponential backoff with full jitter. ``retry_waits`` produces the same curve on
    ``backoff``'s generators.
    """
    return draw * min(policy.backoff_base * 2.0 ** (retry - 1), policy.backoff_max)


def retry_waits(
    policy: RetryPolicy, rng: random.Random | None = None
) -> Generator[float, Failure, None]:
    """A primed wait generator: send it each ``Failure``, it answers with seconds to wait.

    A server-directed wait (``Retry-After``) is returned as is, with no jitter: jittering it
    down would retry before the server asked (backoff's default ``full_jitter`` does just
    that to ``backoff.runtime`` waits). Everything else waits ``backoff.expo`` with full jitter.
    """
    import backoff  # here: a program that never retries does not pay for importing it

    uniform = (rng or random).uniform
    expo = backoff.expo(base=2, factor=policy.backoff_base, max_value=policy.backoff_max)
    next(expo)  # backoff's generators are primed with an empty send before their first value

    def generate() -> Generator[float, Failure, None]:
        failure = yield 0.0
        while True:
            step = next(expo)
            if failure.retry_after is not None:
                failure = yield failure.retry_after
            else:
                failure = yield uniform(0.0, step)

    waits = generate()
    next(waits)
    return waits

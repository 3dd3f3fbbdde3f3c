"""Client-side rate control: learn each rate-limit bucket's limit and pace requests under it.

A server that throttles answers 429 once a token bucket of R requests/s runs dry, with a
``Retry-After`` every caller must honour (the Session's gate): each 429 costs a second of
silence. A client that only reacts spends the burst in a moment and loses the next second
again, about a fifth of R. The ``AdaptiveRateLimiter`` paces each bucket (one per API) with
GCRA at a rate it learns, CUBIC-style (as botocore's adaptive retry mode does), so that 429s
become rare:

- **No limit known** (nothing throttled yet, no ``rate_limit`` given): no pacing at all, one dict
  lookup per request.
- **First 429**: pace at ``BETA`` times the successes of the last ``WINDOW`` second, then double
  the rate every second (slow start) until the next 429.
- **Every later 429**: ``r_max`` becomes the rate that was getting through (successes over the
  last second, never above the pace that overshot; half that pace if the second was mostly
  silence at the gate, which measures nothing), the pace drops to ``BETA * r_max``, and climbs back along
  ``r_max * (1 + (1 - BETA) * ((t - t_429) / K - 1) ** 3)``: concave up to ``r_max`` in ``K``
  seconds, flat around it (where the server's limit is), then probing above it ever faster, so
  a raised limit is found too. One wave of 429s (every request in flight at the overshoot)
  counts once.
- **``X-mp-rate-limit-percentage-used``** on a success (mParticle's early warning): at 90 %
  and above the pace stops growing; at 100 % and above it is cut by ``EASE``.
- **``rate_limit``** (the provisioned limit, if you know it): pacing starts there and the
  learned rate never goes above it.

The constants: ``BETA`` 0.9 (the limit is measured, so the cut can be shallow), ``K`` 8 s
(a 429 every 15 s or so at most, while following a limit that moves), ``WINDOW`` 1 s. Pacing is
GCRA with a burst tolerance of one interval: each caller reserves the next slot before it
waits, so waiters never race.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import attrs

from .errors import InvalidRequest, RateLimited

__all__ = ["AdaptiveRateLimiter", "RateLimiter"]

log = logging.getLogger("mp_async")

BETA = 0.9
EASE = 0.9
K = 8.0
HORIZON = 0.25
MIN_DECREASE_GAP = 0.5
MIN_RATE = 0.5
WINDOW = 1.0


class RateLimiter(Protocol):
    """What the Session asks before each attempt and tells after each reply.

    ``acquire`` sleeps with the Session's ``pause``, so that closing the Session cuts the wait
    short, as it does every other.
    """

    async def acquire(
        self, bucket: str, deadline: float, pause: Callable[[float], Awaitable[None]]
    ) -> None:
        """Wait (with ``pause``) for a permit to send in ``bucket``; raise ``RateLimited`` if it
        would come after ``deadline`` (a monotonic time)."""

    def on_reply(self, bucket: str, status: int, percentage_used: float | None) -> None:
        """Learn from a reply's status (and its ``X-mp-rate-limit-percentage-used``)."""

    def rate(self, bucket: str) -> float | None:
        """The pace of ``bucket`` now, in requests/s (None: not paced)."""


@attrs.define
class _Bucket:
    rate: float | None  # requests/s; None: no limit known, no pacing
    r_max: float | None = None  # the rate at the last 429 (None: in slow start)
    tat: float = 0.0  # GCRA: the theoretical arrival time of the next permit
    last_change: float = 0.0
    last_decrease: float = -1e9
    logged_rate: float | None = None
    successes: deque[float] = attrs.field(factory=deque)


class AdaptiveRateLimiter:
    """The in-memory ``RateLimiter``: per bucket, a learned rate and a GCRA pacer.

    ``rate_limit`` (requests/s, for every bucket, or a mapping of bucket → requests/s) is the
    provisioned limit if you know it: pacing starts at it and learning never goes above it.
    """

    def __init__(
        self,
        rate_limit: float | Mapping[str, float] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(rate_limit, Mapping):
            self._default_cap, self._caps = None, dict(rate_limit)
        else:
            self._default_cap, self._caps = rate_limit, {}
        given = [*self._caps.values(), *([rate_limit] if self._default_cap is not None else [])]
        for value in given:
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value < 1e9
            ):
                raise InvalidRequest(
                    f"rate_limit must be a positive number of requests/s, got {value!r}"
                )
        self._buckets: dict[str, _Bucket] = {}
        self._clock = clock

    def rate(self, bucket: str) -> float | None:
        """The rate ``bucket`` is paced at now (requests/s), or None while no limit is known."""
        state = self._buckets.get(bucket)
        return state.rate if state is not None else self._cap(bucket)

    def _cap(self, bucket: str) -> float | None:
        return self._caps.get(bucket, self._default_cap)

    def _state(self, bucket: str) -> _Bucket:
        state = self._buckets.get(bucket)
        if state is None:
            cap = self._cap(bucket)
            state = self._buckets[bucket] = _Bucket(rate=cap, r_max=cap, last_decrease=-K)
        return state

    async def acquire(
        self, bucket: str, deadline: float, pause: Callable[[float], Awaitable[None]]
    ) -> None:
        """Wait for this bucket's next free slot (none to wait for while no limit is known).

        A slot is reserved only within ``HORIZON`` of now; a caller further back waits in
        steps of ``HORIZON`` and asks again, so a rate that rises meanwhile is used at once.
        """
        state = self._buckets.get(bucket) or self._state(bucket)
        while state.rate is not None:
            now = self._clock()
            interval = 1.0 / state.rate
            start = max(state.tat, now)
            wait = start - interval - now  # a burst tolerance of one interval
            if wait > 0 and now + wait > deadline:
                raise RateLimited(
                    f"paced at {state.rate:.1f} requests/s, the {bucket} bucket has no slot "
                    "before this call's max_elapsed",
                    status=429,
                    retry_after=wait,
                )
            if wait <= HORIZON:
                state.tat = start + interval  # reserved before the wait: no two share a slot
                if wait > 0:
                    await pause(wait)
                return
            await pause(HORIZON)

    def on_reply(self, bucket: str, status: int, percentage_used: float | None) -> None:
        """429: cut the rate; success: climb back (or ease off when the server warns)."""
        now = self._clock()
        state = self._state(bucket)
        if status == 429:
            self._decrease(bucket, state, now)
            return
        if not 200 <= status < 300:
            return
        successes = state.successes
        successes.append(now)
        while successes[0] < now - WINDOW:
            successes.popleft()
        rate = state.rate
        if rate is None:
            return
        if percentage_used is not None and percentage_used >= 90:
            if percentage_used >= 100:
                self._set(bucket, state, max(MIN_RATE, rate * EASE), now)
            return
        if state.r_max is None:  # slow start: double every second
            grown = rate * 2.0 ** (now - state.last_change)
        else:
            phase = (now - state.last_decrease) / K - 1.0
            grown = state.r_max * (1.0 + (1.0 - BETA) * phase**3)
        cap = self._cap(bucket)
        self._set(bucket, state, max(MIN_RATE, grown if cap is None else min(grown, cap)), now)

    def _decrease(self, bucket: str, state: _Bucket, now: float) -> None:
        current = state.rate
        gap = MIN_DECREASE_GAP if current is None else max(MIN_DECREASE_GAP, 2.0 / current)
        if now - state.last_decrease < gap:
            return  # the same overshoot: one wave of 429s counts once
        successes = state.successes
        while successes and successes[0] < now - WINDOW:
            successes.popleft()
        got_through = max(MIN_RATE, len(successes) / WINDOW)
        if current is None:
            limit = got_through
        else:
            # What got through over the last second measures the limit (never above the pace
            # that overshot it), unless that second was mostly silence (a gate): then halve.
            measured = bool(successes) and now - successes[0] >= WINDOW / 2
            limit = min(current, got_through) if measured else current / 2
            state.r_max = limit
        state.last_decrease = now
        cap = self._cap(bucket)
        rate = max(MIN_RATE, limit * BETA)
        state.tat = max(state.tat, now)
        self._set(bucket, state, rate if cap is None else min(rate, cap), now)

    def _set(self, bucket: str, state: _Bucket, rate: float, now: float) -> None:
        state.rate = rate
        state.last_change = now
        logged = state.logged_rate
        if logged is None or abs(rate - logged) > 0.1 * logged:
            state.logged_rate = rate
            log.info("%s: pacing at %.1f requests/s", bucket, rate)

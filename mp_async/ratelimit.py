"""Client-side rate control: learn each rate-limit bucket's limit and pace requests under it.

A server that throttles answers 429 once a token bucket of R requests/s runs dry, with a
``Retry-After`` every caller must honour (the Session's gate): each 429 costs a second of
silence. A client that only reacts spends the burst in a moment and loses the next second
again, about a fifth of R. The ``AdaptiveRateLimiter`` paces each bucket (one per API) with
GCRA at a rate it learns, CUBIC-style (as botocore's adaptive retry mode does), so that 429s
become rare:

- **No limit known** (nothing throttled yet, no ``rate_limit`` given): no pacing at all, one dict
  lookup per request.
- **First 429** (slow start): pace at ``BETA`` times the successes of the last ``WINDOW``
  second, then double the rate every second, never pacing below what gets through, until the
  next 429.
- **Every later 429**: the rate that was getting through is measured (successes since the
  previous 429's gate reopened, over up to ``MEASURE`` seconds; the last second only, when
  leaving slow start; never above the pace that
  overshot; half that pace if a 429 comes back within half a second of the gate, which
  measures nothing but says the pace is far too high). ``r_max`` becomes ``SHRINK`` times it
  (a server's burst lets a pace a little above its limit through for a while, so the rate a
  429 ends is always a little high), the pace drops to ``BETA * r_max`` and climbs back along
  ``r_max * (1 + (1 - BETA) * ((t - t_429) / K - 1) ** 3)``: concave up to ``r_max`` in ``K``
  seconds, flat around it (where the server's limit is), then probing above it ever faster,
  so a raised limit is found too. One wave of 429s (every request in flight at the overshoot)
  counts once.
- **``X-mp-rate-limit-percentage-used``** on a success (mParticle's early warning, the share of
  the account's limit the last second used, other processes included): from 90 % the pace
  stops growing; above 100 % ``r_max`` becomes the pace scaled by 100 / percentage (this
  client's part of bringing the account back to 100 %) and the pace drops to ``SHRINK`` of
  that without waiting for a 429, so a server that warns is never run into its
  ``Retry-After`` (a second of silence for every caller). A share from ``LIFT_FROM`` (10 %) to
  90 % while the client sends at its pace measures the limit as well (what got through over
  the last second, times 100 / percentage; a low bound when other processes share the
  account, so it only ever raises): a limit learned too low, raised since, or left free by
  other processes that went quiet, is taken up at once instead of probed for.
- **``rate_limit``** (the provisioned limit, if you know it): pacing starts there and the
  learned rate never goes above it.

The constants: ``BETA`` 0.9 (the limit is measured, so the cut can be shallow), ``SHRINK``
0.97, ``K`` 12 s (a 429 every 20 s or so at most, while following a limit that moves),
``WINDOW`` 1 s, ``MEASURE`` 5 s. Pacing is GCRA with a burst tolerance of one interval: each
caller reserves the next slot before it waits, so waiters never race.
"""

from __future__ import annotations

import asyncio
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
SHRINK = 0.97
K = 12.0
HORIZON = 0.25
MIN_DECREASE_GAP = 0.5
MIN_RATE = 0.5
WINDOW = 1.0
MEASURE = 5.0
WARN = 90.0
INITIAL_WINDOW = 16
OPEN_WINDOW = 256
LIFT_FROM = 10.0
GAP = 0.5


class RateLimiter(Protocol):
    """What the Session asks before each attempt and tells after each reply.

    ``acquire`` sleeps with the Session's ``pause``, so that closing the Session cuts the wait
    short, as it does every other. Two methods are optional, and used when present:
    ``paces(bucket)`` (whether ``acquire`` has anything to do: the Session skips it when not)
    and ``close_gate(bucket, seconds)`` (a 429's ``Retry-After``: a limiter shared between
    processes closes the gate for all of them; ``mp_async.redis.RedisRateLimiter`` does).
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
    last_decrease: float = -1e9  # where the climb's curve starts (t_429)
    last_cut: float = -1e9  # the last cut, 429 or warning: one wave counts once
    logged_rate: float | None = None
    successes: deque[float] = attrs.field(factory=deque)
    queue: deque[asyncio.Future[None]] = attrs.field(factory=deque)  # callers waiting, in order
    last_wait: float = 0.0  # the wait of the slot just reserved
    # Before any limit is known: at most ``window`` requests in flight, one more for each
    # success, until ``OPEN_WINDOW`` (None: no window, the probe is over).
    window: int | None = None
    in_flight: int = 0
    window_waiters: deque[asyncio.Future[None]] = attrs.field(factory=deque)


def _wake(queue: deque[asyncio.Future[None]]) -> None:
    """Tell the caller now at the head of ``queue`` that it is its turn."""
    if queue and not queue[0].done():
        queue[0].set_result(None)


class AdaptiveRateLimiter:
    """The in-memory ``RateLimiter``: per bucket, a learned rate and a GCRA pacer.

    ``rate_limit`` (requests/s, for every bucket, or a mapping of bucket → requests/s) is the
    provisioned limit if you know it: pacing starts at it and learning never goes above it.
    ``log_changes=False`` leaves out the INFO line on each change of pace.
    """

    def __init__(
        self,
        rate_limit: float | Mapping[str, float] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        log_changes: bool = True,
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
        self._log_changes = log_changes  # an INFO line when a bucket's pace changes by 10 %

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
            window = INITIAL_WINDOW if cap is None else None
            state = self._buckets[bucket] = _Bucket(
                rate=cap, r_max=cap, last_decrease=-K, window=window
            )
        return state

    def paces(self, bucket: str) -> bool:
        """Whether ``acquire`` has anything to do for ``bucket``: a pace, or the first requests'
        window (the Session skips it otherwise: one dictionary lookup per request)."""
        state = self._buckets.get(bucket) or self._state(bucket)
        return state.rate is not None or state.window is not None

    async def acquire(
        self, bucket: str, deadline: float, pause: Callable[[float], Awaitable[None]]
    ) -> None:
        """Wait for this bucket's next free slot (none to wait for while no limit is known).

        Callers are served first come, first served. A slot is reserved only within
        ``HORIZON`` of now, so a rate that rises meanwhile is used at once; the caller at the
        head of the queue waits in steps of ``HORIZON`` and, once it has its slot, wakes the
        next one.
        """
        state = self._buckets.get(bucket) or self._state(bucket)
        if state.rate is None:
            # No limit known yet: the first requests to a bucket go out as a window that grows
            # with each success (as TCP's slow start), so a server with a small limit is not
            # hit with every caller at once; a 429 ends it, and so does OPEN_WINDOW successes.
            while state.window is not None and state.in_flight >= state.window:
                turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                state.window_waiters.append(turn)
                try:
                    await turn
                finally:
                    if turn in state.window_waiters:
                        state.window_waiters.remove(turn)
            if state.rate is None:
                if state.window is not None:
                    state.in_flight += 1
                return
        queue = state.queue
        if not queue and self._reserve(bucket, state, deadline, 0) is None:
            wait = state.last_wait
            if wait > 0:
                await pause(wait)
            return
        turn = asyncio.get_running_loop().create_future()
        queue.append(turn)
        try:
            while True:
                if queue[0] is not turn:
                    # behind others: say now if this caller's slot would be past its deadline
                    self._reserve(bucket, state, deadline, queue.index(turn), check_only=True)
                    await turn
                    continue
                step = self._reserve(bucket, state, deadline, 0)
                if step is None:
                    queue.popleft()
                    _wake(queue)
                    if state.last_wait > 0:
                        await pause(state.last_wait)
                    return
                await pause(step)
        finally:
            if turn in queue:
                head = queue[0] is turn
                queue.remove(turn)
                if head:
                    _wake(queue)

    def _reserve(
        self, bucket: str, state: _Bucket, deadline: float, ahead: int, *, check_only: bool = False
    ) -> float | None:
        """Reserve the next slot if it is within ``HORIZON`` (None; its wait is in
        ``state.last_wait``), else return how long to wait before asking again. Raises
        ``RateLimited`` if the slot (``ahead`` slots later) would come after ``deadline``."""
        rate = state.rate
        if rate is None:  # a limit forgotten meanwhile (never, today): nothing to wait for
            state.last_wait = 0.0
            return None
        now = self._clock()
        interval = 1.0 / rate
        start = max(state.tat, now)
        wait = start - interval - now + ahead * interval  # a burst tolerance of one interval
        if wait > 0 and now + wait > deadline:
            raise RateLimited(
                f"paced at {rate:.1f} requests/s, the {bucket} bucket has no slot before this "
                "call's max_elapsed",
                status=429,
                retry_after=wait,
            )
        if check_only:
            return 0.0
        if wait <= HORIZON:
            state.tat = start + interval  # reserved before the wait: no two share a slot
            state.last_wait = wait
            return None
        return min(wait - HORIZON, HORIZON) if wait - HORIZON > 0.01 else HORIZON

    def on_reply(self, bucket: str, status: int, percentage_used: float | None) -> None:
        """429: cut the rate; success: climb back (or ease off when the server warns)."""
        now = self._clock()
        state = self._state(bucket)
        if state.window is not None:
            self._in_window(state, status)
        if status == 429:
            self._decrease(bucket, state, now, None)
            return
        if not 200 <= status < 300:
            return
        successes = state.successes
        successes.append(now)
        while successes[0] < now - MEASURE:
            successes.popleft()
        rate = state.rate
        if rate is None:
            return
        if percentage_used is not None:
            if percentage_used >= WARN:
                if percentage_used > 100:
                    self._decrease(bucket, state, now, percentage_used)
                return
            if state.r_max is not None and percentage_used >= LIFT_FROM:
                self._lift(bucket, state, now, percentage_used)
        if state.r_max is None:  # slow start: double every second, never below what gets through
            grown = max(rate * 2.0 ** (now - state.last_change), self._got_through(state, now))
        else:
            phase = (now - state.last_decrease) / K - 1.0
            grown = state.r_max * (1.0 + (1.0 - BETA) * phase**3)
        cap = self._cap(bucket)
        self._set(bucket, state, max(MIN_RATE, grown if cap is None else min(grown, cap)), now)

    @staticmethod
    def _in_window(state: _Bucket, status: int) -> None:
        """A reply (status 0: none came) to a request of the first window."""
        state.in_flight = max(0, state.in_flight - 1)
        window = state.window
        if window is None:
            return
        if 200 <= status < 300:
            window += 1
        if status == 429 or window >= OPEN_WINDOW:
            state.window = None  # paced from now on, or never
            room = len(state.window_waiters)
        else:
            state.window = window
            room = window - state.in_flight
        for turn in list(state.window_waiters)[: max(room, 0)]:
            if not turn.done():
                turn.set_result(None)

    @staticmethod
    def _got_through(state: _Bucket, now: float) -> float:
        """Successes per second over the last ``WINDOW``."""
        start = now - WINDOW
        count = 0
        for at in reversed(state.successes):
            if at < start:
                break
            count += 1
        return count / WINDOW

    @staticmethod
    def _busy_rate(state: _Bucket, now: float, window: float) -> float | None:
        """Successes/s over the stretch of steady traffic that this 429 ended, or None.

        The stretch starts after the previous wave's gate, at most ``window`` s back, and at
        the last pause of more than ``GAP`` s (an idle client measures nothing). A stretch of
        under half a second says only that the pace is far too high.
        """
        since = max(state.last_decrease, now - window)
        count, first, previous = 0, now, now
        for at in reversed(state.successes):
            if at < since or previous - at > GAP:
                break
            count, first, previous = count + 1, at, at
        if not count or now - first < WINDOW / 2:
            return None
        return count / (now - first)

    def _lift(self, bucket: str, state: _Bucket, now: float, percentage_used: float) -> None:
        """A warning header below ``WARN`` measures the limit too: if what got through over the
        last second, scaled by 100 / percentage, is well above ``r_max`` (a limit learned too
        low, or raised since), jump to just under it rather than probe up for many seconds."""
        rate, r_max = state.rate, state.r_max
        if rate is None or r_max is None or now - state.last_cut < WINDOW:
            return
        got_through = self._got_through(state, now)
        if got_through < 0.9 * rate - 1:
            return  # not sending at the pace: the share says little about the limit
        limit = got_through * 100.0 / percentage_used
        if limit > r_max * 1.1:
            state.last_cut = now
            state.r_max = limit * SHRINK
            state.last_decrease = now - K  # on the plateau, at r_max
            cap = self._cap(bucket)
            self._set(bucket, state, state.r_max if cap is None else min(state.r_max, cap), now)

    def _decrease(
        self, bucket: str, state: _Bucket, now: float, percentage_used: float | None
    ) -> None:
        current = state.rate
        gap = MIN_DECREASE_GAP if current is None else max(MIN_DECREASE_GAP, 2.0 / current)
        if now - state.last_cut < gap:
            return  # the same overshoot: one wave of 429s counts once
        state.last_cut = now
        if current is None:  # slow start from what got through
            rate = max(MIN_RATE, self._got_through(state, now)) * BETA
            state.last_decrease = now
        elif percentage_used is not None:
            # The server says the last second used this share of the account's limit (other
            # processes included): scaling the pace by 100 / percentage is this client's part
            # of bringing it back to 100; resume just under that (the curve joined where it is
            # at SHRINK * r_max).
            # Scaled from what this client sent (its pace, or what got through when the pace
            # ran ahead of the server; an idle client keeps its pace as the base).
            got_through = self._got_through(state, now)
            sent = got_through if current / 2 <= got_through <= current else current
            state.r_max = sent * 100.0 / percentage_used
            state.last_decrease = now - K * (1.0 - ((1.0 - SHRINK) / (1.0 - BETA)) ** (1 / 3))
            rate = state.r_max * SHRINK
        else:
            # leaving slow start, the last second only: its ramp would read low
            measured = self._busy_rate(state, now, WINDOW if state.r_max is None else MEASURE)
            limit = current / 2 if measured is None else min(current, measured)
            state.r_max = limit * SHRINK
            state.last_decrease = now
            rate = state.r_max * BETA
        cap = self._cap(bucket)
        rate = max(MIN_RATE, rate)
        state.tat = max(state.tat, now)
        self._set(bucket, state, rate if cap is None else min(rate, cap), now)

    def _set(self, bucket: str, state: _Bucket, rate: float, now: float) -> None:
        old = state.rate
        if old is not None and rate > old and state.tat > now:
            # Slots reserved at the old pace are too far out: bring them in to the new one.
            state.tat = now + (state.tat - now) * old / rate
        state.rate = rate
        state.last_change = now
        logged = state.logged_rate
        if self._log_changes and (logged is None or abs(rate - logged) > 0.1 * logged):
            state.logged_rate = rate
            log.info("%s: pacing at %.1f requests/s", bucket, rate)

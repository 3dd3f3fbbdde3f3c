"""Many workers, one account: the rate budget, ``Retry-After`` gate and OAuth token on Redis.

mParticle's limits are per account, and so is its ``X-mp-rate-limit-percentage-used``; a
fleet of worker processes that each learned the limit alone would send N times it. With
``RedisRateLimiter`` they share one pacer per rate-limit bucket: every permit is taken from
one GCRA schedule kept in Redis, one process's 429 closes the gate for all, and the rate is
learned from everyone's successes and 429s, as ``AdaptiveRateLimiter`` learns it in one
process (the same constants, the same CUBIC curve; until a limit is known, one first window
of requests in flight for the whole fleet). ``RedisTokenCache`` keeps the OAuth token, so one
process fetches it for all.

Why Lua scripts on Redis and not the ``limits`` library: a permit must be taken and its wait
decided in one step (``limits`` answers yes or no, so waiters would poll), and the rate it
paces at is learned and changes, with the gate and the measure of what gets through kept
beside it. Five small scripts do each step atomically, in one round trip; the time is
Redis's own (``TIME``), so the machines' clocks need not agree.

If Redis cannot be reached, the limiter paces this process alone with its in-memory
``AdaptiveRateLimiter`` (which has been learning beside it all along), warns once, tries Redis
again every few seconds and says when it is back; the token cache acts as an empty one. No
request fails for it.

Needs the ``redis`` extra: ``pip install 'mp-async[redis]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from .auth.cache import CachedToken
from .errors import InvalidRequest, RateLimited
from .ratelimit import (
    BETA,
    GAP,
    HORIZON,
    INITIAL_WINDOW,
    LIFT_FROM,
    MEASURE,
    MIN_DECREASE_GAP,
    MIN_RATE,
    OPEN_WINDOW,
    SHRINK,
    WARN,
    WINDOW,
    AdaptiveRateLimiter,
    K,
)

try:
    import redis.asyncio as aioredis
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError(
        "mp_async.redis needs the redis package: pip install 'mp-async[redis]'"
    ) from exc

__all__ = ["RedisRateLimiter", "RedisTokenCache", "connect"]

log = logging.getLogger("mp_async")

#: Seconds to wait before trying an unreachable Redis again.
RETRY_REDIS = 2.0
#: Seconds Redis may take to connect or answer before it counts as unreachable.
REDIS_TIMEOUT = 0.5
#: How long an idle bucket's shared state is kept (a learned rate outlives a restart).
STATE_TTL_MS = 3_600_000
#: The measure of what gets through is kept in slots of this many seconds.
SLOT = 0.1
#: The fleet's first window (before any limit is known) ends after this many seconds at most
#: (so that a process that died with requests counted in it cannot hold it shut).
OPEN_AFTER = 10.0
#: Seconds a caller waits before asking again while the first window is full.
WINDOW_POLL = 0.02

_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


def connect(url: str) -> aioredis.Redis:
    """A redis-py asyncio client for ``url`` with short timeouts and one retry at once (on a
    new connection: those pooled before a restart of Redis are dead): when Redis is
    unreachable, mp_async falls back rather than wait."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        retry=Retry(NoBackoff(), 1),
        decode_responses=False,
    )


def _describe(exc: BaseException) -> str:
    """An error of Redis in a log line: its kind and first words (no password is in them)."""
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _where(client: aioredis.Redis) -> str:
    """Host and port of a client, for log lines (never its password)."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


# --- the scripts ----------------------------------------------------------------------------
# KEYS[1]: the bucket's state (a hash: tat, gate, r_max, t_dec, ss, r_ss, last_cut, hold_at)
# KEYS[2]: its successes (a hash: slot number -> count), where the rate that got through is read
# Numbers go back as strings: Redis turns a Lua number into an integer.

_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local BETA, K, MIN_RATE, SLOT = %(BETA)r, %(K)r, %(MIN_RATE)r, %(SLOT)r
local INITIAL_WINDOW, OPEN_WINDOW = %(INITIAL_WINDOW)d, %(OPEN_WINDOW)d
local OPEN_AFTER, WINDOW_POLL = %(OPEN_AFTER)r, %(WINDOW_POLL)r
local TTL = %(TTL)d
local function num(value) return tonumber(value) end
local function rate_at(s, cap)
  -- the pace now: the CUBIC curve from the last cut, slow start's doubling, or the cap
  local rate = nil
  local r_max, t_dec = num(s.r_max), num(s.t_dec) or now
  if s.ss == '1' then
    rate = num(s.r_ss) * 2 ^ math.min(now - t_dec, 30)
  elseif r_max then
    local phase = (now - t_dec) / K - 1
    rate = r_max * (1 + (1 - BETA) * phase * phase * phase)
  end
  if cap > 0 then
    if rate then rate = math.min(rate, cap) else rate = cap end
  end
  if rate then rate = math.max(rate, MIN_RATE) end
  return rate
end
local function record(add, done)
  -- successes a process counted since it last spoke to Redis, in the current slot (and when
  -- the count began: a measure over a second needs a second of counting); and requests of
  -- the first window that ended, which make room in it
  redis.call('HSETNX', KEYS[1], 'born', tostring(now))
  redis.call('PEXPIRE', KEYS[1], TTL)
  if add > 0 then
    redis.call('HINCRBY', KEYS[2], math.floor(now / SLOT), add)
    redis.call('PEXPIRE', KEYS[2], 60000)
    if redis.call('HGET', KEYS[1], 'win') ~= 'open' then
      redis.call('HINCRBY', KEYS[1], 'win_ok', add)
    end
  end
  if done > 0 then
    local left = (num(redis.call('HGET', KEYS[1], 'inflight')) or 0) - done
    redis.call('HSET', KEYS[1], 'inflight', tostring(math.max(0, left)))
  end
end
local function load()
  local v = redis.call('HMGET', KEYS[1], 'tat', 'gate', 'r_max', 't_dec', 'ss', 'r_ss',
                       'last_cut', 'hold_at')
  return {tat = v[1], gate = v[2], r_max = v[3], t_dec = v[4], ss = v[5], r_ss = v[6],
          last_cut = v[7], hold_at = v[8]}
end
local function got_through(since, stop_at_gap, gap)
  -- successes from now back to ``since``, stopping at a pause longer than ``gap``; returns
  -- the count and the time of the first slot counted
  local count, first, empty = 0, nil, 0
  local slot = math.floor(now / SLOT)
  local oldest = math.floor(since / SLOT)
  while slot >= oldest do
    local c = num(redis.call('HGET', KEYS[2], slot)) or 0
    if c > 0 then
      count, first, empty = count + c, slot * SLOT, 0
    else
      empty = empty + 1
      if stop_at_gap and empty * SLOT > gap then break end
    end
    slot = slot - 1
  end
  return count, first
end
"""

_PARAMS = {
    "BETA": BETA,
    "K": K,
    "MIN_RATE": MIN_RATE,
    "SLOT": SLOT,
    "TTL": STATE_TTL_MS,
    "SHRINK": SHRINK,
    "MEASURE": MEASURE,
    "WINDOW": WINDOW,
    "GAP": GAP,
    "MIN_GAP": MIN_DECREASE_GAP,
    "WARN": WARN,
    "INITIAL_WINDOW": INITIAL_WINDOW,
    "OPEN_WINDOW": OPEN_WINDOW,
    "OPEN_AFTER": OPEN_AFTER,
    "WINDOW_POLL": WINDOW_POLL,
}


def _lua(body: str) -> str:
    """A script: the common functions, then ``body``, with the constants written in."""
    return (_COMMON + body) % _PARAMS


# ARGV: cap (0: none), max_wait (s), successes to record, horizon (s). Returns {kind, wait,
# rate}: 'gate' (closed: wait, then ask again); 'counted' (no limit known: go, as one of the
# first window); 'full' (the first window is full: ask again in a moment); 'free' (no limit
# known, the first window over: no pacing); 'late' (the slot is past max_wait: not taken);
# 'later' (the slot is beyond the horizon: not taken, ask again nearer the time, so that a
# pace that rises meanwhile is used at once); 'slot' (taken: wait that long, then send).
_ACQUIRE = _lua(
    """
local cap, max_wait, add = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local horizon = tonumber(ARGV[4])
record(add, 0)
local s = load()
local w = redis.call('HMGET', KEYS[1], 'win', 'win_ok', 'inflight', 'born')
local open = w[1] == 'open'
local inflight = num(w[3]) or 0
local gate = num(s.gate) or 0
if gate > now then return {'gate', tostring(gate - now), ''} end
local rate = rate_at(s, cap)
if not rate then
  -- No limit known: the first requests of every process together go out as one window that
  -- grows by one with each success (TCP's slow start), so that a fleet starting at once does
  -- not meet a small limit with every caller; a 429, OPEN_WINDOW successes or OPEN_AFTER
  -- seconds end it.
  if open then return {'free', '0', ''} end
  local window = INITIAL_WINDOW + (num(w[2]) or 0)
  local born = num(w[4]) or now
  if window >= OPEN_WINDOW or now - born > OPEN_AFTER then
    redis.call('HSET', KEYS[1], 'win', 'open')
    return {'free', '0', ''}
  end
  if inflight >= window then return {'full', tostring(WINDOW_POLL), ''} end
  redis.call('HSET', KEYS[1], 'inflight', tostring(inflight + 1), 'win', 'on')
  redis.call('PEXPIRE', KEYS[1], TTL)
  return {'counted', '0', ''}
end
local interval = 1 / rate
local start = math.max(num(s.tat) or 0, now)
local wait = math.max(0, start - interval - now)  -- a burst tolerance of one interval
if wait > max_wait then return {'late', tostring(wait), tostring(rate)} end
if wait > horizon then return {'later', tostring(wait), tostring(rate)} end
redis.call('HSET', KEYS[1], 'tat', tostring(start + interval))
redis.call('PEXPIRE', KEYS[1], TTL)
return {'slot', tostring(wait), tostring(rate)}
"""
)

# ARGV: cap, successes to record, requests of the first window that ended.
_REPORT = _lua(
    """
record(tonumber(ARGV[2]), tonumber(ARGV[3]))
return ''
"""
)

# ARGV: cap, successes to record, seconds. Closes the gate for every process; slots are taken from its opening on.
_GATE = _lua(
    """
record(tonumber(ARGV[2]), 0)
local opens = now + tonumber(ARGV[3])
local s = load()
if opens > (num(s.gate) or 0) then
  redis.call('HSET', KEYS[1], 'gate', tostring(opens),
             'tat', tostring(math.max(num(s.tat) or 0, opens)))
  redis.call('PEXPIRE', KEYS[1], TTL)
end
return tostring(opens - now)
"""
)

# ARGV: cap, successes to record, percentage used (0: a 429). A 429, or a share above 100 %:
# learn the limit.
_CUT = _lua(
    """
local cap, percentage = tonumber(ARGV[1]), tonumber(ARGV[3])
record(tonumber(ARGV[2]), 0)
local SHRINK, MEASURE, WINDOW, GAP, MIN_GAP = %(SHRINK)r, %(MEASURE)r, %(WINDOW)r, %(GAP)r, %(MIN_GAP)r
local s = load()
if percentage == 0 then redis.call('HSET', KEYS[1], 'win', 'open') end  -- paced from now on
local current = rate_at(s, cap)
local gap = MIN_GAP
if current then gap = math.max(MIN_GAP, 2 / current) end
if now - (num(s.last_cut) or 0) < gap then return '' end  -- one wave of 429s counts once
local r_max, t_dec, rate
if percentage > 0 and (not current or now - (num(s.last_cut) or 0) < WINDOW) then
  -- the share is the last second's: it counts the traffic the last cut was about; and with
  -- no pace known there is nothing to scale (the next 429 starts the slow start)
  return ''
end
if percentage > 0 then
  -- the account's share of its limit, everyone's: scale the pace to bring it back to 100
  -- scaled from what was sent: the pace, or what got through when the pace ran ahead
  local sent = got_through(now - WINDOW, false, 0) / WINDOW
  if sent < current / 2 or sent > current then sent = current end
  r_max = math.max(MIN_RATE, sent) * 100 / percentage
  t_dec = now - K * (1 - ((1 - SHRINK) / (1 - BETA)) ^ (1 / 3))
  redis.call('HSET', KEYS[1], 'ss', '0')
elseif not current then
  -- the first 429: slow start from what got through over the last second
  local count = got_through(now - WINDOW, false, 0)
  redis.call('HSET', KEYS[1], 'ss', '1', 'r_ss', tostring(math.max(MIN_RATE, count / WINDOW) * BETA),
             't_dec', tostring(now), 'last_cut', tostring(now))
  redis.call('PEXPIRE', KEYS[1], TTL)
  return 'slow start'
else
  -- what got through over the busy stretch this 429 ended (the last second only when
  -- leaving slow start), never above the pace that overshot
  local window = MEASURE
  if s.ss == '1' then window = WINDOW end
  local since = math.max(num(s.t_dec) or 0, now - window)
  local count, first = got_through(since, true, GAP)
  local limit = current / 2
  if first and now - first >= WINDOW / 2 then limit = math.min(current, count / (now - first)) end
  r_max = limit * SHRINK
  t_dec = now
  redis.call('HSET', KEYS[1], 'ss', '0')
end
if cap > 0 and r_max > cap then r_max = cap end
redis.call('HSET', KEYS[1], 'r_max', tostring(r_max), 't_dec', tostring(t_dec),
           'last_cut', tostring(now))
redis.call('PEXPIRE', KEYS[1], TTL)
return tostring(r_max)
"""
)

# ARGV: cap, successes to record, percentage used (from LIFT_FROM to 100). From WARN: stop
# growing where the pace is (slow start's doubling, or the curve's plateau). Below WARN, the
# share measures the limit: what got through (everyone's successes) times 100 / percentage;
# jump to just under it when no pace is known yet, in slow start, or when it is well above
# the pace (a limit learned too low, or raised since).
_WARN = _lua(
    """
local cap, percentage = tonumber(ARGV[1]), tonumber(ARGV[3])
record(tonumber(ARGV[2]), 0)
local WARN, WINDOW, SHRINK = %(WARN)r, %(WINDOW)r, %(SHRINK)r
local s = load()
local current = rate_at(s, cap)
if percentage >= WARN then
  if not current then return '' end
  if now - (num(s.hold_at) or 0) < 0.25 then return '' end
  if s.ss == '1' then
    redis.call('HSET', KEYS[1], 'r_ss', tostring(current), 't_dec', tostring(now),
               'hold_at', tostring(now))
  else
    redis.call('HSET', KEYS[1], 'r_max', tostring(current), 't_dec', tostring(now - K),
               'hold_at', tostring(now))
  end
  return tostring(current)
end
local r_max = num(s.r_max)
if now - (num(s.last_cut) or 0) < WINDOW then return '' end
if now - (num(redis.call('HGET', KEYS[1], 'born')) or now) < 2 * WINDOW then return '' end
local count = got_through(now - WINDOW, false, 0) / WINDOW
if count < 1 then return '' end
local limit = count * 100 / percentage
-- only ever up: a lower limit is what a 429, or a share above 100, says
if s.ss ~= '1' and current and limit <= math.max(current, r_max or 0) * 1.1 then return '' end
r_max = limit * SHRINK
if cap > 0 and r_max > cap then r_max = cap end
redis.call('HSET', KEYS[1], 'ss', '0', 'r_max', tostring(r_max), 't_dec', tostring(now - K),
           'last_cut', tostring(now))
redis.call('PEXPIRE', KEYS[1], TTL)
return tostring(r_max)
"""
)


class RedisRateLimiter:
    """A ``RateLimiter`` shared by every process that uses the same Redis and ``namespace``.

    ``namespace`` names the account (its client id or API key: never a secret); each
    rate-limit bucket (API) of it has one shared pacer. ``rate_limit`` (requests/s, or a
    mapping of bucket → requests/s) is the account's provisioned budget if you know it,
    shared by all: pacing starts there and the learned rate never goes above it. Without it
    the rate is learned, as one process learns it. Pass a redis-py asyncio client, or use
    ``RedisRateLimiter.from_url``; ``aclose()`` closes a client it made.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        namespace: str,
        rate_limit: float | Mapping[str, float] | None = None,
        key_prefix: str = "mp_async",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(namespace, str) or not namespace or any(c in namespace for c in " \n"):
            raise InvalidRequest(
                f"namespace must name the account (its client id or API key), got {namespace!r}"
            )
        #: The in-memory limiter: the pace while Redis is away (it learns beside Redis all along).
        self.local = AdaptiveRateLimiter(rate_limit, clock=clock, log_changes=False)
        self._caps = rate_limit
        self._client = client
        self._owns_client = False
        self._prefix = f"{key_prefix}:rate:{namespace}:"
        self._clock = clock
        self._where = _where(client)
        self._acquire = client.register_script(_ACQUIRE)
        self._gate = client.register_script(_GATE)
        self._cut = client.register_script(_CUT)
        self._warn = client.register_script(_WARN)
        self._report = client.register_script(_REPORT)
        self._successes: dict[str, int] = {}
        # requests of the fleet's first window this process has out
        self._window_out: dict[str, int] = {}
        self._rates: dict[str, float | None] = {}
        self._logged: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}  # one caller of this process asks at a time
        self._gates: dict[str, float] = {}  # bucket -> local monotonic time the shared gate opens
        self._last_warn: dict[str, float] = {}
        self._down_until: float | None = None  # Redis unreachable: in memory until then
        self._fell_at = -math.inf  # when the last call to Redis failed
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str,
        rate_limit: float | Mapping[str, float] | None = None,
        key_prefix: str = "mp_async",
    ) -> RedisRateLimiter:
        """A limiter on its own connection to ``url`` (``redis://host:port/db``)."""
        limiter = cls(
            connect(url), namespace=namespace, rate_limit=rate_limit, key_prefix=key_prefix
        )
        limiter._owns_client = True
        return limiter

    def __repr__(self) -> str:
        state = "in memory until Redis is back" if self.using_fallback else "shared"
        return f"RedisRateLimiter({self._where}, {self._prefix.rstrip(':')!r}, {state})"

    @property
    def redis(self) -> aioredis.Redis:
        """The redis-py client this limiter speaks to (a ``RedisTokenCache`` may share it)."""
        return self._client

    @property
    def using_fallback(self) -> bool:
        """True while Redis is unreachable and this process paces alone."""
        return self._down_until is not None

    def _cap(self, bucket: str) -> float:
        caps = self._caps
        cap = caps.get(bucket) if isinstance(caps, Mapping) else caps
        return float(cap) if cap is not None else 0.0

    def rate(self, bucket: str) -> float | None:
        """The shared pace of ``bucket`` as last read (or the local one while Redis is away)."""
        if self.using_fallback or bucket not in self._rates:
            return self.local.rate(bucket)
        return self._rates[bucket]

    def paces(self, bucket: str) -> bool:
        """Every request asks Redis (for the gate and a slot), unless it is away."""
        if self.using_fallback and not self._retry_due():
            return self.local.paces(bucket)
        return True

    # --- permits ---------------------------------------------------------------------------

    async def acquire(
        self, bucket: str, deadline: float, pause: Callable[[float], Awaitable[None]]
    ) -> None:
        """Wait for a slot of the shared schedule (or the shared gate); in memory while Redis
        is away.

        In each process one caller at a time asks Redis, in the order they came (the others
        wait their turn here); a slot is taken only within ``HORIZON`` of now, so that a pace
        that rises meanwhile is used at once and a gate that closes meanwhile holds everyone.
        """
        while True:
            if self.using_fallback and not self._retry_due():
                await self.local.acquire(bucket, deadline, pause)
                return
            lock = self._locks.get(bucket)
            if lock is None:
                lock = self._locks[bucket] = asyncio.Lock()
            try:
                if lock.locked():  # others of this process are asking: in line, until the deadline
                    await asyncio.wait_for(lock.acquire(), max(0.0, deadline - self._clock()))
                else:
                    await lock.acquire()  # at once (wait_for would cost a task per request)
            except asyncio.TimeoutError:
                raise RateLimited(
                    f"the shared {bucket} budget had no slot for this call before its max_elapsed",
                    status=429,
                ) from None
            try:
                wait = await self._take(bucket, deadline, pause)
            finally:
                lock.release()
            if wait is None:
                continue  # Redis went away meanwhile: in memory
            if wait > 0:
                await pause(wait)
            if self._gates.get(bucket, 0.0) > self._clock():
                continue  # a 429 closed the gate while this caller waited: a new slot after it
            return

    async def _take(
        self, bucket: str, deadline: float, pause: Callable[[float], Awaitable[None]]
    ) -> float | None:
        """Take the next slot (or a place in the fleet's first window): its wait, or None
        when Redis cannot be reached. Waits here at a closed gate, while the first window is
        full, and for a slot to come within ``HORIZON``."""
        keys = [self._prefix + bucket, self._prefix + bucket + ":ok"]
        while True:
            now = asked_at = self._clock()
            added = self._successes.pop(bucket, 0)
            if self._retry_due():
                # Trying again after an outage: connections pooled before it are dead.
                with contextlib.suppress(*_ERRORS):
                    await self._client.connection_pool.disconnect()
            try:
                kind, wait_s, rate_s = await self._acquire(
                    keys=keys,
                    args=[self._cap(bucket), max(0.0, deadline - now), added, HORIZON],
                )
            except _ERRORS as exc:
                self._fall_back(exc)
                return None
            self._back(asked_at)
            wait = float(wait_s)
            kind = kind.decode() if isinstance(kind, bytes) else kind
            if kind in ("free", "counted"):
                self._rates[bucket] = None
                if kind == "counted":  # its reply is told back with a later call
                    self._window_out[bucket] = self._window_out.get(bucket, 0) + 1
                return 0.0
            if kind == "full":
                await pause(wait)
                continue
            if kind == "gate":
                opens = self._clock() + wait
                self._gates[bucket] = max(self._gates.get(bucket, 0.0), opens)
                if opens > deadline:
                    raise RateLimited(
                        f"throttled; the shared {bucket} gate opens in {wait:.1f} s, past this "
                        "call's max_elapsed",
                        status=429,
                        retry_after=wait,
                    )
                await pause(wait)
                continue
            rate = float(rate_s)
            if self._rates.get(bucket) != rate:
                self._rates[bucket] = rate
                logged = self._logged.get(bucket)
                if logged is None or abs(rate - logged) > 0.1 * logged:
                    self._logged[bucket] = rate
                    log.info("%s: pacing at %.1f requests/s (shared)", bucket, rate)
            if kind == "late":
                raise RateLimited(
                    f"paced at {rate:.1f} requests/s by the shared {bucket} budget, no slot "
                    "before this call's max_elapsed",
                    status=429,
                    retry_after=wait,
                )
            if kind == "later":
                await pause(max(0.01, min(wait - HORIZON, HORIZON)))
                continue
            return wait

    def on_reply(self, bucket: str, status: int, percentage_used: float | None) -> None:
        """Count a success for the shared measure; a 429, or a warning of 90 % and more, is
        told to Redis at once (in the background)."""
        self.local.on_reply(bucket, status, percentage_used)
        if self.using_fallback:
            return
        out = self._window_out.get(bucket)
        if out:
            # One of the first window's requests ended (whichever it was: they count alike):
            # room for another, in any process, at once.
            self._window_out[bucket] = out - 1
            self._spawn(self._run(self._report, bucket, 1))
        if 200 <= status < 300:
            self._successes[bucket] = self._successes.get(bucket, 0) + 1
            if percentage_used is not None and percentage_used >= LIFT_FROM:
                if percentage_used > 100:
                    self._spawn(self._run(self._cut, bucket, percentage_used))
                else:
                    # at most one report a quarter second (holding), or a second (lifting)
                    now = self._clock()
                    every = 0.25 if percentage_used >= WARN else WINDOW
                    if now - self._last_warn.get(bucket, -math.inf) >= every:
                        self._last_warn[bucket] = now
                        self._spawn(self._run(self._warn, bucket, percentage_used))
        elif status == 429:
            self._spawn(self._run(self._cut, bucket, 0))

    def close_gate(self, bucket: str, seconds: float) -> None:
        """A 429's ``Retry-After`` in this process: close the gate for every process."""
        opens = self._clock() + seconds
        self._gates[bucket] = max(self._gates.get(bucket, 0.0), opens)
        if not self.using_fallback:
            self._spawn(self._run(self._gate, bucket, seconds))

    async def _run(self, script: Any, bucket: str, *args: float) -> None:
        keys = [self._prefix + bucket, self._prefix + bucket + ":ok"]
        # Every script takes the cap and the successes counted since the last call first.
        args = (self._cap(bucket), self._successes.pop(bucket, 0), *args)
        try:
            await script(keys=keys, args=list(args))
        except _ERRORS as exc:
            self._fall_back(exc)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        if self._closed:
            if asyncio.iscoroutine(coroutine):
                coroutine.close()
            return
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- Redis away and back ---------------------------------------------------------------

    def _retry_due(self) -> bool:
        return self._down_until is not None and self._clock() >= self._down_until

    def _fall_back(self, exc: BaseException) -> None:
        self._fell_at = self._clock()
        if self._down_until is None:
            log.warning(
                "Redis at %s is unreachable (%s): pacing this process alone until it is back",
                self._where,
                _describe(exc),
            )
        self._down_until = self._clock() + RETRY_REDIS

    def _back(self, asked_at: float) -> None:
        # Only an answer to a question asked after the last failure says Redis is back (one
        # already on its way when it went down may still arrive).
        if self._down_until is not None and asked_at > self._fell_at:
            self._down_until = None
            log.warning("Redis at %s is back: the rate budget is shared again", self._where)

    async def drain(self, timeout: float = REDIS_TIMEOUT) -> None:
        """Wait (at most ``timeout`` s) for the reports on their way to Redis (429s, warnings,
        gates) to arrive."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def aclose(self) -> None:
        """Let the last reports to Redis finish (briefly), and close a client this made."""
        self._closed = True
        await self.drain()
        if self._owns_client:
            with contextlib.suppress(*_ERRORS):
                await self._client.aclose()


# A lock is released only by its holder: a holder whose lock expired must not free another's.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisTokenCache:
    """A ``TokenCache`` on Redis: one process fetches the OAuth token, the others read it.

    Keys are ``<key_prefix>:oauth:<client id>:<digest of token URL and audience>``; the value
    is the access token and its times, stored until the token expires (anyone who can read
    your Redis can use the token until then: keep Redis private). The client secret is never
    stored. If Redis is unreachable the cache acts as an empty one and each process fetches
    its own token, with one warning.
    """

    def __init__(self, client: aioredis.Redis, *, key_prefix: str = "mp_async") -> None:
        self._client = client
        self._owns_client = False
        self._prefix = f"{key_prefix}:oauth:"
        self._where = _where(client)
        self._unlock = client.register_script(_UNLOCK)
        self._warned = False

    @classmethod
    def from_url(cls, url: str, *, key_prefix: str = "mp_async") -> RedisTokenCache:
        """A cache on its own connection to ``url``."""
        cache = cls(connect(url), key_prefix=key_prefix)
        cache._owns_client = True
        return cache

    def __repr__(self) -> str:
        return f"RedisTokenCache({self._where}, {self._prefix.rstrip(':')!r})"

    def _unreachable(self, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "Redis at %s is unreachable (%s): each process fetches its own OAuth token "
                "until it is back",
                self._where,
                type(exc).__name__,
            )

    def _reachable(self) -> None:
        if self._warned:
            self._warned = False
            log.warning("Redis at %s is back: the OAuth token is shared again", self._where)

    async def get(self, key: str) -> CachedToken | None:
        try:
            raw = await self._client.get(self._prefix + key)
        except _ERRORS as exc:
            self._unreachable(exc)
            return None
        self._reachable()
        if raw is None:
            return None
        try:
            stored = json.loads(raw)
            return CachedToken(
                str(stored["access_token"]), float(stored["issued_at"]), float(stored["expires_at"])
            )
        except (ValueError, KeyError, TypeError):
            return None  # not ours, or damaged: fetch a new one (which replaces it)

    async def put(self, key: str, token: CachedToken) -> None:
        ttl = token.expires_at - time.time()
        if ttl <= 0:
            return
        value = json.dumps(
            {
                "access_token": token.access_token,
                "issued_at": token.issued_at,
                "expires_at": token.expires_at,
            }
        )
        try:
            await self._client.set(self._prefix + key, value, px=max(1, int(ttl * 1000)))
        except _ERRORS as exc:
            self._unreachable(exc)

    @contextlib.asynccontextmanager
    async def lock(self, key: str, timeout: float) -> AsyncIterator[None]:
        """``SET NX`` with an expiry of ``timeout``: the holder fetches; the others poll until
        it is gone (the token is then stored), or until ``timeout``."""
        name = f"{self._prefix}{key}:lock"
        mine = secrets.token_hex(16)
        held = False
        give_up = time.monotonic() + timeout
        delay = 0.01
        try:
            while True:
                try:
                    held = bool(await self._client.set(name, mine, nx=True, px=int(timeout * 1000)))
                except _ERRORS as exc:
                    self._unreachable(exc)
                    break
                if held or time.monotonic() >= give_up:
                    break
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
            yield
        finally:
            if held:
                with contextlib.suppress(*_ERRORS):
                    await self._unlock(keys=[name], args=[mine])

    async def aclose(self) -> None:
        """Close a client this made."""
        if self._owns_client:
            with contextlib.suppress(*_ERRORS):
                await self._client.aclose()

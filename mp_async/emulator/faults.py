"""What the emulator can be told to do wrong: throttle, fail, reset, slow down."""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Mapping

import attrs

__all__ = ["Faults", "ScriptedReply"]


@attrs.frozen
class ScriptedReply:
    """A reply to send instead of the real one, for the next matching request."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    path_prefix: str = ""  # only requests whose path starts with this (empty: any API path)
    reset: bool = False  # cut the connection mid-reply instead


@attrs.define
class Faults:
    """Fault controls, changeable while the emulator runs. Rates are shares of 0..1.

    They apply to the API routes; the token endpoint has its own (``token_*``).
    """

    throttle_rate: float | None = None  # requests/s per API above which the emulator answers 429
    throttle_burst: float | None = None  # the bucket's depth (default: throttle_rate / 5, >= 1)
    error_rate_503: float = 0.0
    error_rate_500: float = 0.0
    reset_rate: float = 0.0  # share of replies cut off mid-body
    slow_rate: float = 0.0  # share of replies delayed by slow_seconds
    slow_seconds: float = 0.0
    latency: float = 0.0  # seconds added to every API reply
    token_delay: float = 0.0  # seconds the token call takes
    token_failures: int = 0  # the next N token calls answer 503
    token_body: bytes | None = None  # replace the token reply's body (garbage tests)
    # tokens stop working this many seconds after issue, whatever their expires_in says
    token_dies_after: float | None = None
    # the next N Identity requests answer 429 after their credentials were checked (so a test
    # sees every attempt of a retried request signed)
    identity_throttle_next: int = 0
    seed: int | None = None
    script: deque[ScriptedReply] = attrs.field(factory=deque)
    rng: random.Random = attrs.field(init=False)
    # api -> (tokens, when last refilled): the throttle's token buckets
    _buckets: dict[str, tuple[float, float]] = attrs.field(init=False, factory=dict)
    # api -> when the requests the throttle let through in the last second arrived
    _admitted: dict[str, deque[float]] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        path_prefix: str = "",
        reset: bool = False,
    ) -> None:
        """Answer the next ``count`` matching API requests with ``status`` (or a reset)."""
        for _ in range(count):
            self.script.append(ScriptedReply(status, dict(headers or {}), body, path_prefix, reset))

    def take_scripted(self, path: str) -> ScriptedReply | None:
        """The scripted reply for a request to ``path``, if one is queued for it."""
        for index, reply in enumerate(self.script):
            if path.startswith(reply.path_prefix):
                del self.script[index]
                return reply
        return None

    def throttled(self, api: str, now: float) -> float | None:
        """Seconds until a permit is free if this request is over the rate, else None.

        A token bucket per API, as mParticle describes its speed limits: ``throttle_rate``
        permits a second, holding at most ``throttle_burst`` (default a fifth of a second's
        worth, at least one), so a quiet client may burst briefly and a steady one is held to
        the rate.
        """
        rate = self.throttle_rate
        if rate is None:
            return None
        burst = self._burst(rate)
        tokens, at = self._buckets.get(api, (burst, now))
        tokens = min(burst, tokens + max(now - at, 0.0) * rate)
        if tokens < 1.0:
            self._buckets[api] = (tokens, now)
            return (1.0 - tokens) / rate if rate > 0 else 1.0
        self._buckets[api] = (tokens - 1.0, now)
        self._admitted.setdefault(api, deque()).append(now)
        return None

    def percentage_used(self, api: str, now: float) -> int | None:
        """``X-mp-rate-limit-percentage-used``: the share of the limit the last second used."""
        rate = self.throttle_rate
        if rate is None:
            return None
        admitted = self._admitted.setdefault(api, deque())
        while admitted and admitted[0] <= now - 1.0:
            admitted.popleft()
        return round(100 * len(admitted) / rate)

    def _burst(self, rate: float) -> float:
        return self.throttle_burst if self.throttle_burst is not None else max(1.0, rate / 5)

    def clear(self) -> None:
        """Back to a well-behaved server: every control at its default (the seed and the
        random generator stay)."""
        fresh = Faults(seed=self.seed)
        for field in attrs.fields(Faults):
            if field.name not in ("seed", "rng"):
                setattr(self, field.name, getattr(fresh, field.name))


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up and at least 1, as ``Retry-After`` carries them."""
    return str(max(1, math.ceil(seconds)))

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
    # api -> (window start, count), for throttling in one-second windows
    _windows: dict[str, tuple[float, int]] = attrs.field(init=False, factory=dict)

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
        """Seconds until the current window ends if this request is over the rate, else None."""
        if self.throttle_rate is None:
            return None
        start, count = self._windows.get(api, (now, 0))
        if now - start >= 1.0:
            start, count = now, 0
        count += 1
        self._windows[api] = (start, count)
        if count > self.throttle_rate:
            return max(1.0 - (now - start), 0.0)
        return None

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

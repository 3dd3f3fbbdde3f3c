"""Progress of a bulk command: what it has done, how fast, how long to go, on stderr.

On a terminal: a live bar. Without one (cron, a container's log): a line every few seconds.
The numbers are the same either way: done of total, the current rate (over the last ten
seconds), the time remaining at that rate, retries and 429s, failures.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

import attrs
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["Counts", "Display", "ProgressMode", "RateMeter", "clock", "format_duration"]

#: The clock every rate, ETA and progress interval is measured with (tests replace it).
clock: Callable[[], float] = time.monotonic

ProgressMode = Literal["live", "lines", "off"]

#: Seconds of history the current rate is measured over.
RATE_WINDOW = 10.0


@attrs.define
class Counts:
    """What a bulk command has done so far; the progress display and the summary read it."""

    total: int | None = None  # items of work in the input; None when it cannot be counted
    done: int = 0  # items finished in this run, failed ones included
    failed: int = 0
    skipped: int = 0  # finished in an earlier run
    retries: int = 0
    throttled: int = 0  # 429 replies, retried or not

    @property
    def remaining(self) -> int | None:
        """Items still to do, when the total is known."""
        if self.total is None:
            return None
        return max(self.total - self.skipped - self.done, 0)


class RateMeter:
    """Items per second over the last ``window`` seconds, from samples of a running count."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self._window = window
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, now: float, done: int) -> None:
        """Record that ``done`` items were finished at ``now``."""
        samples = self._samples
        samples.append((now, done))
        while len(samples) > 2 and now - samples[1][0] >= self._window:
            samples.popleft()

    def rate(self) -> float | None:
        """The current rate, or None before two samples a moment apart."""
        if len(self._samples) < 2:
            return None
        (first, done_first), (last, done_last) = self._samples[0], self._samples[-1]
        if last - first <= 0:
            return None
        return (done_last - done_first) / (last - first)


def format_duration(seconds: float | None) -> str:
    """``h:mm:ss``, or ``-:--:--`` when unknown."""
    if seconds is None:
        return "-:--:--"
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _eta(counts: Counts, rate: float | None) -> float | None:
    remaining = counts.remaining
    if remaining is None:
        return None
    if remaining == 0:
        return 0.0
    return remaining / rate if rate else None


class Display:
    """Shows ``counts`` on ``console`` (stderr): a live bar, a line every ``interval`` s, or nothing.

    ``refresh()`` is called on a timer and ``poke()`` each time work finishes; in the "lines"
    mode either prints a line once ``interval`` seconds have passed since the last one.
    """

    def __init__(
        self,
        label: str,
        counts: Counts,
        console: Console,
        *,
        mode: ProgressMode,
        interval: float = 5.0,
        as_json: bool = False,
        failed_label: str = "failed",
    ) -> None:
        self.label = label
        self._failed_label = failed_label
        self.counts = counts
        self.mode = mode
        self._console = console
        self._interval = interval
        self._as_json = as_json
        self._meter = RateMeter()
        self._started = clock()
        self._last_line = self._started
        self._bar: Progress | None = None
        self._task: Any = None

    @property
    def elapsed(self) -> float:
        """Seconds since the display was made."""
        return clock() - self._started

    def rate(self) -> float | None:
        """The current rate (items per second), falling back to the average so far."""
        rate = self._meter.rate()
        if rate is None:
            elapsed = self.elapsed
            rate = self.counts.done / elapsed if elapsed > 0 and self.counts.done else None
        return rate

    def start(self) -> None:
        """Show the live bar (in the "live" mode)."""
        self._meter.sample(self._started, 0)
        if self.mode != "live":
            return
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[stats]}", markup=False),
            TimeElapsedColumn(),
            console=self._console,
            transient=False,
        )
        self._task = self._bar.add_task(self.label, total=self.counts.total, stats=self.stats())
        self._bar.start()

    def refresh(self) -> None:
        """Sample the rate and update what is shown (called on a timer)."""
        now = clock()
        self._meter.sample(now, self.counts.done)
        if self._bar is not None:
            c = self.counts
            total = None if c.total is None else max(c.total - c.skipped, c.done)
            self._bar.update(self._task, completed=c.done, total=total, stats=self.stats())
        elif self.mode == "lines":
            self.poke(now)

    def poke(self, now: float | None = None) -> None:
        """In the "lines" mode, print a line if ``interval`` seconds passed since the last."""
        if self.mode != "lines":
            return
        now = clock() if now is None else now
        if now - self._last_line >= self._interval:
            self._last_line = now
            self.print_line()

    def stop(self) -> None:
        """Leave the bar on screen at its final state."""
        if self._bar is not None:
            self.refresh()
            self._bar.stop()
            self._bar = None

    def stats(self) -> str:
        """Done of total, percentage, rate, time remaining, retries, 429s, failures."""
        c = self.counts
        rate = self.rate()
        done = f"{c.done:,}"
        if c.total is not None:
            todo = max(c.total - c.skipped, 0)
            done += f"/{todo:,}"
            if todo:
                done += f" {min(c.done / todo, 1.0):4.0%}"
        rate_text = "-" if rate is None else f"{rate:,.0f}"
        return (
            f"{done}  {rate_text}/s  ETA {format_duration(_eta(c, rate))}  "
            f"retries {c.retries:,}  429s {c.throttled:,}  {self._failed_label} {c.failed:,}"
        )

    def snapshot(self) -> dict[str, Any]:
        """The progress as JSON values."""
        c = self.counts
        rate = self.rate()
        eta = _eta(c, rate)
        return {
            "done": c.done,
            "total": c.total,
            "skipped": c.skipped,
            "failed": c.failed,
            "retries": c.retries,
            "throttled": c.throttled,
            "per_second": None if rate is None else round(rate, 1),
            "eta_seconds": None if eta is None else round(eta, 1),
            "elapsed_seconds": round(self.elapsed, 1),
        }

    def print_line(self) -> None:
        """One progress line, text or (with ``--json``) a JSON object."""
        if self._as_json:
            line = json.dumps({"progress": {"command": self.label, **self.snapshot()}})
        else:
            line = f"mp-async: {self.label} {self.stats()}  elapsed {format_duration(self.elapsed)}"
        self._console.print(line, markup=False, highlight=False, soft_wrap=True)

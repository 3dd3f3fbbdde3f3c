"""What the bulk commands share while they run: progress, Ctrl-C, and stopping early.

A ``BulkRun`` watches the work of ``profiles lookup``, ``events upload`` and ``demo``: it
counts what finished, and every retry and 429 the session reports (``on_retry``), shows them,
and stops the work at once when it cannot get better: credentials the server refuses (401 or
403, after the session's one token refresh), or a server that has not answered at all for
``give_up_after`` seconds. Ctrl-C stops it too; the command then prints its summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any

from ..errors import (
    APIError,
    CertificateError,
    Forbidden,
    MissingCredentials,
    RateLimited,
    TransportError,
    Unauthorized,
)
from ..session import RetryEvent
from .inputs import BadInput
from .progress import Counts, Display
from .runtime import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, UNREACHABLE, describe

__all__ = ["BulkRun", "Stop"]

#: Seconds between two refreshes of the live bar (the "lines" mode checks at this pace too).
_TICK = 0.25


class Stop(Exception):
    """Ends a bulk run early: one line for the operator, and the exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class BulkRun:
    """Runs one bulk command's work under watch; see the module docstring."""

    def __init__(self, display: Display, *, target: str, give_up_after: float) -> None:
        self.display = display
        self.counts: Counts = display.counts
        #: Why the run stopped early, if it did (None if it finished or was interrupted).
        self.stopped: Stop | None = None
        #: True once Ctrl-C was pressed.
        self.interrupted = False
        #: What the run talks to, for messages ("https://api.mparticle.com").
        self.target = target
        self._give_up_after = give_up_after
        # A token for the current stretch of failures without any reply; None after a reply.
        self._silence: object | None = None
        self._silence_timer: asyncio.TimerHandle | None = None
        self._last_transport_error = ""
        self._task: asyncio.Task[None] | None = None

    @property
    def exit_code(self) -> int | None:
        """130 after Ctrl-C, the stop's code after a stop, else None (the command decides)."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        return self.stopped.code if self.stopped is not None else None

    # --- what the work and the session report ---------------------------------------------

    def on_retry(self, event: RetryEvent) -> None:
        """The session's ``on_retry`` hook: count the retry, and whether the server answered."""
        self.counts.retries += 1
        if event.status == 429:
            self.counts.throttled += 1
        if event.status is None:
            self._no_reply(event.error)
        else:
            self._replied()

    def finished(self, count: int = 1, error: BaseException | None = None) -> None:
        """``count`` items finished, failed with ``error`` if it is given."""
        self.counts.done += count
        if error is not None:
            self.counts.failed += count
            self.failed_with(error)
        else:
            self._replied()
        self.display.poke()

    def failed_with(self, error: BaseException) -> None:
        """Look at one failure: stop if retrying cannot fix it; note whether a reply came."""
        if isinstance(error, RateLimited):
            self.counts.throttled += 1
        if isinstance(error, (Unauthorized, Forbidden, MissingCredentials, CertificateError)):
            self.stop(Stop(describe(error)))
        elif isinstance(error, TransportError):
            self._last_transport_error = f"{type(error).__name__}: {error}"
            self._no_reply(type(error).__name__)
        elif isinstance(error, APIError):
            self._replied()

    def skipped(self, count: int = 1) -> None:
        """``count`` items were finished by an earlier run."""
        self.counts.skipped += count

    def _replied(self) -> None:
        self._silence = None

    def _no_reply(self, error_name: str) -> None:
        if not self._last_transport_error:
            self._last_transport_error = error_name
        if self._silence is None:
            silence = self._silence = object()
            loop = asyncio.get_running_loop()
            self._silence_timer = loop.call_later(self._give_up_after, self._check_silence, silence)

    def _check_silence(self, silence: object) -> None:
        if self._silence is silence:
            self.stop(
                Stop(
                    f"no reply from {self.target} for {self._give_up_after:g} s "
                    f"({self._last_transport_error[:200]}); " + UNREACHABLE
                )
            )

    # --- stopping -------------------------------------------------------------------------

    def stop(self, reason: Stop) -> None:
        """Stop the work now, for ``reason`` (the first reason given wins)."""
        task = self._task
        if task is None or task.done():
            return  # the work is over: nothing to stop, and its outcome stands
        if self.stopped is None and not self.interrupted:
            self.stopped = reason
            self._cancel()

    def interrupt(self) -> None:
        """Ctrl-C: stop the work; a second Ctrl-C hurries its clean-up along."""
        self.interrupted = True
        self._cancel()

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def run(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` with the progress display, Ctrl-C and the stop rules in place.

        Returns when the work finished or was stopped (see ``stopped``, ``interrupted``);
        anything else it raises propagates.
        """
        task = self._task = asyncio.ensure_future(work)
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self.interrupt)
            handling_sigint = True
        except (NotImplementedError, RuntimeError, ValueError):
            handling_sigint = False  # not the main thread, or Windows: KeyboardInterrupt then
        self.display.start()
        ticker = asyncio.ensure_future(self._tick())
        try:
            await task
        except asyncio.CancelledError:
            if not (self.interrupted or self.stopped):
                raise
        except BadInput as exc:
            self.stopped = Stop(str(exc), EXIT_USAGE)
        except Stop as stop:
            self.stopped = stop
        finally:
            if self._silence_timer is not None:
                self._silence_timer.cancel()
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            if handling_sigint:
                loop.remove_signal_handler(signal.SIGINT)
            self.display.stop()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(_TICK)
            self.display.refresh()

"""``BatchUploader``: a worker hands batches over one at a time; they go out in bulk, in the
background, and every one is either sent or handed back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any, Protocol, TypedDict

from .._validate import require_int, require_seconds
from ..errors import (
    APIError,
    ClientClosed,
    ErrorDetail,
    InvalidRequest,
    RateLimited,
    UploadAborted,
)
from ..protocol import EVENTS_MAX_BATCHES_PER_REQUEST
from .event_encoding import ChunkBuilder, ChunkOutcome, EncodedBatch, FailedBatch, encode_batch
from .event_models import Batch, BatchLike
from .spool import Spool


class ChunkSender(Protocol):
    """What the uploader sends through: ``EventsAPI.send_chunk``."""

    async def send_chunk(self, chunk: list[EncodedBatch], *, historical: bool) -> ChunkOutcome:
        """Send one bulk request; how it failed is returned, not raised."""


__all__ = ["BatchUploader", "ChunkSender", "Receipt", "UploaderOptions"]

log = logging.getLogger("mp_async")

_NEW, _OPEN, _CLOSING, _CLOSED = "new", "open", "closing", "closed"


class Receipt:
    """What became of one batch given to ``BatchUploader.add``.

    ``await receipt`` returns the batch's ``source_request_id`` once the bulk request that
    carried it was accepted (202), and raises the error if the batch was handed back instead
    (it is then in ``failed`` or ``on_failure`` too). ``add_done_callback(fn)`` calls ``fn(receipt)``
    when it is settled. A receipt nobody awaits costs nothing and warns about nothing, so a
    worker may keep thousands outstanding, or ignore them.
    """

    __slots__ = ("_callbacks", "_done", "_error", "_waiters", "_written", "source_request_id")

    def __init__(self, source_request_id: str) -> None:
        #: The id the batch is sent with (set before the first attempt, kept across retries).
        self.source_request_id = source_request_id
        self._done = False
        self._error: Exception | None = None
        self._waiters: list[asyncio.Future[None]] | None = None
        self._callbacks: list[Callable[[Receipt], object]] | None = None
        self._written: asyncio.Future[None] | None = None  # the spool's write, if spooled

    @property
    def durable(self) -> bool:
        """True once the batch is written to the uploader's spool (never without a spool)."""
        written = self._written
        return written is not None and written.done() and written.exception() is None

    def __repr__(self) -> str:
        state = "pending" if not self._done else "accepted" if self._error is None else "failed"
        return f"Receipt({self.source_request_id!r}, {state})"

    def done(self) -> bool:
        """True once the batch was accepted or handed back."""
        return self._done

    @property
    def accepted(self) -> bool:
        """True once the server accepted the bulk request that carried the batch."""
        return self._done and self._error is None

    def exception(self) -> Exception | None:
        """The error the batch was handed back with (None if accepted or not settled yet)."""
        return self._error

    def add_done_callback(self, callback: Callable[[Receipt], object]) -> None:
        """Call ``callback(self)`` once settled (at once if it already is)."""
        if self._done:
            callback(self)
            return
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append(callback)

    def __await__(self) -> Generator[Any, None, str]:
        if not self._done:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            yield from waiter.__await__()
        if self._error is not None:
            raise self._error
        return self.source_request_id

    def _settle(self, error: Exception | None) -> None:
        if self._done:
            return
        self._done, self._error = True, error
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)
        for callback in self._callbacks or ():
            try:
                callback(self)
            except Exception:
                log.exception("a receipt's callback raised")


async def _written(chunk: list[EncodedBatch]) -> None:
    """Wait until the chunk's batches are in the spool (written in order: the last one says).

    A spool that cannot be written (a full disk) does not stop delivery: the batches go out
    as an uploader without a spool would send them.
    """
    receipt = chunk[-1].receipt
    written = receipt._written if receipt is not None else None
    if written is None or (written.done() and written.exception() is None):
        return
    try:
        await written
    except Exception:
        log.exception("the spool could not be written; sending %d batches anyway", len(chunk))


def _retrying_cannot_fix(error: Exception) -> bool:
    """Whether a batch handed back with ``error`` would fail the same way if sent again."""
    if isinstance(error, InvalidRequest):
        return True
    if isinstance(error, APIError) and not isinstance(error, RateLimited):
        return 400 <= error.status < 500 and error.status not in (401, 403, 408)
    return False


class UploaderOptions(TypedDict, total=False):
    """``BatchUploader``'s keyword options, as ``EventsAPI.uploader`` passes them on."""

    max_batch: int
    flush_interval: float
    max_pending: int
    concurrency: int
    historical: bool
    on_failure: Callable[[list[FailedBatch]], object] | None
    on_sent: Callable[[list[Batch | dict[str, Any]]], object] | None
    cancel_timeout: float


class BatchUploader:
    """Buffers batches and uploads them in bulk in the background; loses none.

    ``add`` validates a batch at once (bad input raises ``InvalidRequest`` to the caller) and
    buffers it. A bulk request goes out when ``max_batch`` batches (or 256 KB) are buffered,
    or every ``flush_interval`` seconds, ``concurrency`` requests at a time, each retried by
    the session. When ``max_pending`` batches are buffered or in flight, ``add`` waits: it
    never drops. Leaving the ``async with`` block sends everything. A batch that still fails
    after the retries is passed to ``on_failure`` when one is given (and only counted, in
    ``failed_count``, so a long-running worker keeps no list that grows without bound); without
    ``on_failure`` it is kept in ``failed`` for the caller to read and clear. If the owner task
    is cancelled, inside the block or while leaving it, the uploader sends what it can for
    ``cancel_timeout`` seconds, hands the rest back in ``failed`` (as ``UploadAborted``), and
    lets the cancellation go on; a second cancellation hands the rest back at once.

    ``add`` returns a ``Receipt`` that settles when the batch is accepted or handed back;
    ``on_sent`` is called with the batches of each accepted bulk request, in the order the
    server accepted them. With ``spool`` (a ``Spool``, or give ``EventsAPI.uploader`` a path),
    ``add`` returns once the batch is written to the spool file, and an uploader started on a
    spool that holds batches sends them first, with their original ``source_request_id``.
    """

    def __init__(
        self,
        api: ChunkSender,
        *,
        max_batch: int = EVENTS_MAX_BATCHES_PER_REQUEST,
        flush_interval: float = 1.0,
        max_pending: int = 10_000,
        concurrency: int = 8,
        historical: bool = False,
        on_failure: Callable[[list[FailedBatch]], object] | None = None,
        on_sent: Callable[[list[Batch | dict[str, Any]]], object] | None = None,
        cancel_timeout: float = 5.0,
        spool: Spool | None = None,
    ) -> None:
        require_int("max_batch", max_batch, 1, EVENTS_MAX_BATCHES_PER_REQUEST)
        require_int("max_pending", max_pending, 1)
        require_int("concurrency", concurrency, 1)
        require_seconds("flush_interval", flush_interval)
        require_seconds("cancel_timeout", cancel_timeout)
        self._api = api
        self._max_batch = max_batch
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        self._concurrency = concurrency
        self._historical = historical
        self._on_failure = on_failure
        self._on_sent = on_sent
        self._cancel_timeout = cancel_timeout
        self._spool = spool
        self._recovering: asyncio.Task[None] | None = None
        #: Batches found in the spool at start and queued to be sent again.
        self.recovered = 0
        #: Batches that could not be delivered, with their errors, in the order they failed:
        #: kept only when no ``on_failure`` took them (or it raised). Clear it once read.
        self.failed: list[FailedBatch] = []
        #: How many batches could not be delivered, in all.
        self.failed_count = 0
        #: Errors the server reported in accepted (202) bulk replies, about refused batches.
        self.server_errors: list[ErrorDetail] = []
        #: Batches in bulk requests the server accepted.
        self.sent = 0
        self._pending = 0
        self._buffer = ChunkBuilder(max_batch)
        self._queue: asyncio.Queue[list[EncodedBatch]] = asyncio.Queue()
        # Set while fewer than max_pending batches are outstanding (or when shutting down).
        self._room = asyncio.Event()
        self._room.set()
        self._sending: dict[asyncio.Task[None], list[EncodedBatch]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._ticker: asyncio.Task[None] | None = None
        # Done when the first close() has finished; a later close() waits for it.
        self._close_done: asyncio.Future[None] | None = None
        self._state = _NEW

    def __repr__(self) -> str:
        return (
            f"BatchUploader(state={self._state!r}, pending={self._pending}, sent={self.sent}, "
            f"failed={self.failed_count})"
        )

    @property
    def pending(self) -> int:
        """Batches added and not yet sent or handed back."""
        return self._pending

    async def __aenter__(self) -> BatchUploader:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # An ordinary exit (or an ordinary exception) sends everything; a cancellation (or
        # KeyboardInterrupt) sends what it can within cancel_timeout and hands the rest back.
        cancelled = exc_type is not None and not issubclass(exc_type, Exception)
        await self.close(timeout=self._cancel_timeout if cancelled else None)

    def start(self) -> None:
        """Start the background tasks (``async with`` does this)."""
        if self._state != _NEW:
            raise ClientClosed(f"this BatchUploader was already started (it is {self._state})")
        self._state = _OPEN
        if self._spool is not None:
            self._recovering = asyncio.ensure_future(self._recover(self._spool))
        self._workers = [asyncio.ensure_future(self._work()) for _ in range(self._concurrency)]
        self._ticker = asyncio.ensure_future(self._tick())

    async def _recover(self, spool: Spool) -> None:
        """Open the spool and queue what it holds, before any batch added now is spooled."""
        found = await spool.open()
        self.recovered = len(found)
        self._pending += len(found)
        if found:
            log.info("%d batches found in the spool %s: sending them again", len(found), spool.path)
        builder = ChunkBuilder(self._max_batch)
        for item in found:
            full = builder.push(item)
            if full:
                self._queue.put_nowait(full)
        last = builder.take()
        if last:
            self._queue.put_nowait(last)

    async def add(self, batch: BatchLike) -> Receipt:
        """Buffer ``batch`` for upload; waits while ``max_pending`` batches are outstanding.

        Returns its ``Receipt``. With a spool, returns once the batch is written to it.
        """
        if self._state != _OPEN:
            raise ClientClosed(f"this BatchUploader is {self._state}; add batches inside its block")
        item = encode_batch(batch, historical=self._historical)
        receipt = item.receipt = Receipt(item.source_request_id)
        while self._pending >= self._max_pending:
            # Only a settled chunk makes room. When max_pending < max_batch the buffer never
            # fills a chunk, so send what it holds rather than wait for the interval.
            self._cut()
            self._room.clear()
            await self._room.wait()
            if self._state != _OPEN:
                raise ClientClosed(f"this BatchUploader was {self._state} while the batch waited")
        self._pending += 1
        spool = self._spool
        if spool is not None:
            recovering = self._recovering
            if recovering is not None and not recovering.done():
                await asyncio.shield(recovering)
            written = receipt._written = spool.put(item)
            if spool.waits:
                try:
                    await written
                except BaseException:
                    self._settle(1)
                    raise
        full = self._buffer.push(item)
        if full:
            self._queue.put_nowait(full)
        return receipt

    async def flush(self) -> None:
        """Send everything added so far and wait until it is sent or handed back."""
        self._cut()
        await self._queue.join()

    async def close(self, *, timeout: float | None = None) -> None:
        """Send everything, then stop; with ``timeout``, hand back what is not sent by then.

        If the caller is cancelled while this waits with no ``timeout``, sending goes on for
        up to ``cancel_timeout`` seconds more. A second cancellation, or one while a close
        with a ``timeout`` waits, hands the rest back at once. Either way the cancellation then
        goes on. A second ``close`` (from another task, say) waits for the first to finish.
        """
        if self._close_done is not None:
            await asyncio.shield(self._close_done)
            return
        if self._state == _NEW:
            self._state = _CLOSED
            return
        ticker = self._ticker
        assert ticker is not None  # started, since it is not new
        self._close_done = asyncio.get_running_loop().create_future()
        self._state = _CLOSING
        self._room.set()  # producers waiting for room learn that the uploader is closing
        ticker.cancel()
        if self._recovering is not None:
            await asyncio.gather(self._recovering, return_exceptions=True)
        self._cut()
        # asyncio.wait never cancels what it waits for: cancelled, the drain goes on.
        drained = asyncio.ensure_future(self._queue.join())
        try:
            try:
                await asyncio.wait({drained}, timeout=timeout)
            except asyncio.CancelledError:
                if timeout is None:
                    await asyncio.wait({drained}, timeout=self._cancel_timeout)
                raise
        finally:
            drained.cancel()
            self._abort()
            self._state = _CLOSED
            try:
                await asyncio.gather(*self._workers, ticker, drained, return_exceptions=True)
                if self._spool is not None:
                    await self._spool.close()
            finally:
                self._close_done.set_result(None)

    def _cut(self) -> None:
        chunk = self._buffer.take()
        if chunk:
            self._queue.put_nowait(chunk)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            self._cut()

    async def _work(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while True:
            chunk = await self._queue.get()
            self._sending[task] = chunk
            try:
                await _written(chunk)
                outcome = await self._api.send_chunk(chunk, historical=self._historical)
                # Once _abort has run it has handed this chunk back already.
                if self._sending.pop(task, None) is not None:
                    self._settle_chunk(chunk, outcome)
            finally:
                self._queue.task_done()

    def _settle_chunk(self, chunk: list[EncodedBatch], outcome: ChunkOutcome) -> None:
        if outcome.error is not None:
            self._fail(chunk, outcome.error)
            return
        self.sent += len(chunk)
        self._settle(len(chunk))
        if self._spool is not None:
            self._spool.forget(item.source_request_id for item in chunk)
        for item in chunk:
            if item.receipt is not None:
                item.receipt._settle(None)
        if self._on_sent is not None:
            try:
                self._on_sent([item.handed_back() for item in chunk])
            except Exception:
                log.exception("on_sent raised")
        if outcome.server_errors:
            log.warning(
                "the server refused part of a bulk request: %s",
                "; ".join(e.message for e in outcome.server_errors)[:300],
            )
            self.server_errors.extend(outcome.server_errors)

    def _abort(self) -> None:
        # Synchronous, so a second cancellation cannot interrupt the hand-back half way.
        for chunk in self._sending.values():
            self._fail(
                chunk,
                UploadAborted(
                    f"the uploader shut down while {len(chunk)} batches were in flight; they may or "
                    "may not have reached mParticle"
                ),
            )
        self._sending.clear()
        for task in self._workers:
            task.cancel()
        unsent = []
        while not self._queue.empty():
            unsent.extend(self._queue.get_nowait())
            self._queue.task_done()
        unsent.extend(self._buffer.take())
        if unsent:
            self._fail(unsent, UploadAborted("the uploader shut down before these were sent"))

    def _fail(self, chunk: list[EncodedBatch], error: Exception) -> None:
        failures = [FailedBatch(item.handed_back(), error) for item in chunk]
        self.failed_count += len(failures)
        self._settle(len(chunk))
        if self._spool is not None and _retrying_cannot_fix(error):
            self._spool.forget(item.source_request_id for item in chunk)
        for item in chunk:
            if item.receipt is not None:
                item.receipt._settle(error)
        log.warning(
            "%d batches could not be sent (%s: %s); handed back in %s",
            len(chunk),
            type(error).__name__,
            error,
            ".failed" if self._on_failure is None else "on_failure",
        )
        if self._on_failure is None:
            self.failed.extend(failures)
            return
        try:
            self._on_failure(failures)
        except Exception:
            # A callback that failed has not taken them: they must not be lost.
            self.failed.extend(failures)
            log.exception("on_failure raised; the batches are kept in .failed")

    def _settle(self, count: int) -> None:
        self._pending -= count
        if self._pending < self._max_pending:
            self._room.set()

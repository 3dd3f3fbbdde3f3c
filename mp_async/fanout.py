"""Bounded fan-out: run one coroutine per input item, a fixed number at a time, and stream
the results back as they complete. Used by ``ProfileAPI.get_many``."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

__all__ = ["bounded_map"]

T = TypeVar("T")
R = TypeVar("R")

_EXHAUSTED: Any = object()


class _Source(Generic[T]):
    """Hands out items one at a time from a sync or async iterable, to many workers."""

    def __init__(self, items: Iterable[T] | AsyncIterable[T]) -> None:
        #: The iterator of a sync iterable: workers call ``next`` on it themselves (no
        #: coroutine per item); ``next()`` is for an async one.
        self.sync = iter(items) if not isinstance(items, AsyncIterable) else None
        self._async = aiter(items) if isinstance(items, AsyncIterable) else None
        self._lock = asyncio.Lock()

    async def next(self) -> Any:
        if self.sync is not None:
            return next(self.sync, _EXHAUSTED)
        assert self._async is not None
        # An async generator cannot be advanced by two workers at once.
        async with self._lock:
            try:
                return await anext(self._async)
            except StopAsyncIteration:
                return _EXHAUSTED


class _Finished:
    """What a worker leaves in the channel when it stops: the exception that stopped it, if any."""

    __slots__ = ("error",)

    def __init__(self, error: Exception | None) -> None:
        self.error = error


class _Channel(Generic[R]):
    """Results from many workers to one reader, bounded so a slow reader holds workers back.

    Lighter than an ``asyncio.Queue`` on the hot path: the reader takes everything ready in one
    wake-up, and a writer only creates a future when the buffer is full.
    """

    def __init__(self, limit: int) -> None:
        self._items: deque[R | _Finished] = deque()
        self._limit = limit
        self._reader: asyncio.Future[None] | None = None
        self._writers: deque[asyncio.Future[None]] = deque()

    def push(self, item: R | _Finished) -> bool:
        """Hand ``item`` to the reader; True when the buffer is over its limit (then the writer
        awaits ``room()`` before its next item)."""
        self._items.append(item)
        reader = self._reader
        if reader is not None:
            self._reader = None
            if not reader.done():
                reader.set_result(None)
        return len(self._items) > self._limit

    async def room(self) -> None:
        room = asyncio.get_running_loop().create_future()
        self._writers.append(room)
        await room

    async def put(self, item: R | _Finished) -> None:
        if self.push(item):
            await self.room()

    async def take_all(self) -> deque[R | _Finished]:
        if not self._items:
            self._reader = asyncio.get_running_loop().create_future()
            await self._reader
        items, self._items = self._items, deque()
        while self._writers:
            room = self._writers.popleft()
            if not room.done():
                room.set_result(None)
        return items


async def bounded_map(
    items: Iterable[T] | AsyncIterable[T],
    call: Callable[[T], Awaitable[R]],
    concurrency: int,
) -> AsyncGenerator[R, None]:
    """``await call(item)`` for every item, ``concurrency`` at a time; yield results as they finish.

    ``items`` is read lazily, one item per free worker, so a generator of millions is never
    materialised. An exception from ``call`` (or from the input) ends the stream and is
    re-raised; leaving the loop early cancels the calls in flight.
    """
    source: _Source[T] = _Source(items)
    channel: _Channel[R] = _Channel(concurrency)

    async def worker() -> None:
        error: Exception | None = None
        sync = source.sync
        try:
            while True:
                item = next(sync, _EXHAUSTED) if sync is not None else await source.next()
                if item is _EXHAUSTED:
                    break
                if channel.push(await call(item)):
                    await channel.room()
        except Exception as exc:  # re-raised to the reader below
            error = exc
        await channel.put(_Finished(error))

    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    running = len(workers)
    try:
        while running:
            for result in await channel.take_all():
                if isinstance(result, _Finished):
                    running -= 1
                    if result.error is not None:
                        raise result.error
                else:
                    yield result
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

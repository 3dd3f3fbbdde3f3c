"""Fixtures of the fault-injection suite: an emulator on its own thread, and the end-of-run checks.

The emulator runs on a thread with its own event loop, so that the test's loop holds the
client's tasks only: "no task left running" can then be checked while the server is still up.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from collections.abc import Iterator
from typing import Any, TypeVar

import pytest

from mp_async import MParticle, Session
from mp_async.emulator import Emulator
from mp_async.emulator.faults import Faults

T = TypeVar("T")


class EmulatorThread:
    """An ``Emulator`` served from a background thread; ``emu`` is the running emulator."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.emu: Emulator

    def start(self) -> None:
        self._thread.start()
        self.emu = self.call(self._start())

    async def _start(self) -> Emulator:
        emu = Emulator(**self._kwargs)
        await emu.start()
        return emu

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run ``coro`` on the emulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        try:
            self.call(self.emu.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    @property
    def faults(self) -> Faults:
        return self.emu.faults


@pytest.fixture
def emulator_thread() -> Iterator[Any]:
    """A factory: ``emulator_thread(profiles=..., faults=Faults(...))`` starts one; stopped after."""
    started: list[EmulatorThread] = []

    def start(**kwargs: Any) -> EmulatorThread:
        server = EmulatorThread(**kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def assert_bounded(awaitable: Any, seconds: float) -> Any:
    """Await ``awaitable``, failing the test (instead of hanging) if it takes over ``seconds``."""
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        pytest.fail(f"did not finish within {seconds} s")


def acquired_connections(client: MParticle | Session) -> int:
    """How many pooled connections are checked out right now (0 when the pool is idle)."""
    session = client.session if isinstance(client, MParticle) else client
    connector = session._client_session().connector
    assert connector is not None
    return len(connector._acquired)  # type: ignore[attr-defined]


def other_tasks() -> set[asyncio.Task[Any]]:
    """Tasks of this loop other than the test's own."""
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


def assert_no_resource_warnings() -> None:
    """Collect garbage now and fail on any ResourceWarning (an unclosed socket or session)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaked, leaked

"""Fixtures of the fault-injection suite: an emulator on its own thread, and the end-of-run checks.

The emulator runs on a thread with its own event loop, so that the test's loop holds the
client's tasks only: "no task left running" can then be checked while the server is still up.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from mp_async import MParticle, Session
from mp_async.auth import OAuthClientCredentials
from mp_async.emulator import Emulator

from .emulator_thread import EmulatorThread


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


def client_on(server: EmulatorThread, **kwargs: Any) -> MParticle:
    """An MParticle with OAuth credentials for ``server``'s Profile, Platform and Group APIs."""
    emu = server.emu
    return MParticle(
        oauth=OAuthClientCredentials(emu.state.client_id, emu.state.client_secret),
        workspace=emu.workspace,
        hosts=emu.hosts,
        **kwargs,
    )


@pytest.fixture(scope="module")
def _module_emulator() -> Iterator[EmulatorThread]:
    server = EmulatorThread(profiles=20, seed=1)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def shared_emulator(_module_emulator: EmulatorThread) -> Iterator[Emulator]:
    """One emulator for every test of a module, its faults cleared before each test.

    Cheaper than an emulator per test: aiohttp caches each application's middleware chain
    (``web_app._build_middlewares`` is an ``lru_cache``), so every emulator built stays in
    memory, and the suite's per-test ``gc.collect()`` slows down as they pile up.
    """
    _module_emulator.faults.clear()
    yield _module_emulator.emu
    _module_emulator.faults.clear()


async def assert_bounded(awaitable: Any, seconds: float) -> Any:
    """Await ``awaitable``, failing the test (instead of hanging) if it takes over ``seconds``."""
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        pytest.fail(f"did not finish within {seconds} s")


async def until(condition: Any, seconds: float = 5.0) -> None:
    """Wait until ``condition()`` is true, failing the test after ``seconds``."""

    async def poll() -> None:
        # The emulator's state changes on its own thread: there is no event here to await.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)

    await assert_bounded(poll(), seconds)


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

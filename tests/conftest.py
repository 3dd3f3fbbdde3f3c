"""Shared fixtures: aioresponses that works on aiohttp 3.14, a live emulator, and leak checks."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web_app
from aioresponses import aioresponses

from mp_async import MParticle, Request
from mp_async.emulator import Emulator
from mp_async.testing import client_for  # noqa: F401  (tests import it from here)


class _CompatResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds ClientResponse without the ``stream_writer`` that aiohttp 3.14
    requires (aioresponses issue #289, open). Supply one; drop this when a fixed release ships."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", mock.Mock(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    """Mock every aiohttp request of the test (no real socket)."""
    # aioresponses falls back to the module's ClientResponse for replies (callbacks too).
    with mock.patch("aioresponses.core.ClientResponse", _CompatResponse), aioresponses() as m:
        yield m


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what importing and collecting made out of the collector's sight, once.

    Each test ends with a full ``gc.collect()`` (below), which walks every object the
    collector tracks: the imported modules of the whole run (hypothesis, the official SDK,
    FastAPI...) made it cost 80 ms a test, nearly half the suite's time on a slow machine.
    Objects made before the first test cannot be a test's leak; whatever a test makes is still
    collected, and its ResourceWarning still fails the test.
    """
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _fail_on_loop_errors() -> Iterator[None]:
    """Fail a test whose loop reports an unhandled error, such as "Unclosed client session"."""
    reported: list[dict[str, Any]] = []
    loop_policy = asyncio.get_event_loop_policy()
    original = loop_policy.new_event_loop

    def new_event_loop() -> asyncio.AbstractEventLoop:
        loop = original()
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        return loop

    with mock.patch.object(loop_policy, "new_event_loop", new_event_loop):
        yield
    # aiohttp memoises middleware chains per application (an lru_cache of 1,024 in web_app),
    # which keeps every emulator of the run, seeded profiles and all, alive: each gc.collect()
    # below would then walk them all. Drop the memo so a finished test's emulator is freed.
    clear_middleware_cache = getattr(web_app, "_cached_build_middleware", None)
    if clear_middleware_cache is not None:
        clear_middleware_cache.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        gc.collect()
    messages = [str(c.get("message")) for c in reported]
    assert not messages, f"the event loop reported: {messages}"


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps: retries do not wait.

    Give a Session both: ``Session(sleep=fake.sleep, clock=fake.clock)``.
    """

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class StaticBearer:
    """An auth strategy of our own: a fixed bearer token (no token endpoint to mock)."""

    async def apply(self, request: Request, sender: object) -> Request:
        return request.with_headers({"Authorization": "Bearer test-token"})


@pytest.fixture
def fake_time() -> FakeTime:
    """A fresh FakeTime."""
    return FakeTime()


# The emulator fixtures are the package's pytest plugin (mp_async/testing.py), the ones users
# get in their own tests; these names are the short aliases the suite is written with.


@pytest.fixture
def emulator(mp_emulator: Emulator) -> Emulator:
    """A running emulator with 200 seeded profiles, on a loopback port (``mp_emulator``)."""
    return mp_emulator


@pytest.fixture
def mp(mp_client: MParticle) -> MParticle:
    """A client on the ``emulator`` fixture (``mp_client``)."""
    return mp_client

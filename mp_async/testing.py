"""A pytest plugin for your own tests: a local mParticle and a client wired to it.

Installed with the package (a ``pytest11`` entry point), so in any project that has
``mp_async``, ``pytest`` and ``pytest-asyncio`` these fixtures need no import::

    async def test_signup_links_the_profile(mp_client, mp_emulator):
        mpid = mp_emulator.seeded_mpids[0]
        profile = await mp_client.profiles.get(mpid)
        ...

- ``mp_emulator``: an :class:`~mp_async.emulator.Emulator` serving on a loopback port for
  the test. Its state (``.state``: profiles, users, groups, received batches) and faults
  (``.faults``: throttling, errors, latency) can be seeded and inspected.
- ``mp_client``: an :class:`~mp_async.MParticle` with every credential the emulator accepts,
  closed after the test.
- ``mp_faults``: the emulator's :class:`~mp_async.emulator.Faults`, a shortcut.

Configure the emulator per test with a marker, whose keywords go to ``Emulator``::

    @pytest.mark.mp_emulator(profiles=1000, seed=7)
    async def test_fan_out(mp_client, mp_emulator): ...

Without a marker the emulator seeds 200 profiles with seed 1. ``client_for(emulator)`` builds
further clients (other retry policies, timeouts) on the same emulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

import pytest

from .auth import BasicAuth, HmacDigestAuth, OAuthClientCredentials
from .client import MParticle
from .emulator import Emulator, Faults

__all__ = ["client_for", "mp_client", "mp_emulator", "mp_faults"]

#: What ``mp_emulator`` seeds when the test has no ``mp_emulator`` marker.
DEFAULT_EMULATOR_OPTIONS: dict[str, Any] = {"profiles": 200, "seed": 1}

_F = TypeVar("_F", bound=Callable[..., Any])


def client_for(emulator: Emulator, **kwargs: Any) -> MParticle:
    """An ``MParticle`` pointed at ``emulator`` with every credential it accepts.

    Keyword arguments go to ``MParticle`` and override the defaults (``oauth``,
    ``identity_auth``, ``events_auth``, ``retry``, ``timeout`` …).
    """
    state = emulator.state
    kwargs.setdefault("oauth", OAuthClientCredentials(state.client_id, state.client_secret))
    kwargs.setdefault("identity_auth", HmacDigestAuth(state.api_key, state.api_secret))
    kwargs.setdefault("events_auth", BasicAuth(state.api_key, state.api_secret))
    return MParticle(workspace=emulator.workspace, hosts=emulator.hosts, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mp_emulator(**options): options for the mp_emulator fixture (profiles, seed, faults…)",
    )


def _needs_pytest_asyncio() -> None:
    pytest.fail("the mp_async pytest fixtures need pytest-asyncio: pip install pytest-asyncio")


def _async_fixture(func: _F) -> _F:
    # pytest loads this plugin in every project that has mp_async installed: without
    # pytest-asyncio, the fixtures fail with a clear message when used, and pytest still runs.
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - exercised only where pytest-asyncio is absent
        return cast(_F, pytest.fixture(name=func.__name__)(_needs_pytest_asyncio))
    return cast(_F, pytest_asyncio.fixture(func))


@_async_fixture
async def mp_emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """A running emulator on a loopback port, stopped after the test."""
    marker = request.node.get_closest_marker("mp_emulator")
    options = dict(marker.kwargs) if marker is not None else dict(DEFAULT_EMULATOR_OPTIONS)
    async with Emulator(**options) as emulator:
        yield emulator


@_async_fixture
async def mp_client(mp_emulator: Emulator) -> AsyncIterator[MParticle]:
    """An ``MParticle`` wired to ``mp_emulator``, closed after the test."""
    async with client_for(mp_emulator) as client:
        yield client


@pytest.fixture
def mp_faults(mp_emulator: Emulator) -> Faults:
    """The faults of ``mp_emulator``: ``mp_faults.throttle_rate = 50`` and so on."""
    return mp_emulator.faults

"""The README as a test: every Python block runs, as written, against the emulator.

The one shared preamble is ``mp``: a client wired to an emulator, open while a block with a
top-level ``await`` runs. Everything else a block uses it defines or imports itself. The
emulator stands in for mParticle the way a user's own test would make it: it accepts the
placeholder credentials the README writes (``"your-client-id"`` and so on), it holds the
example user (MPID 8240373199402373981, customer id 12345, ada@example.com), and mParticle's
pods (``Hosts.us1()`` and the rest) point at it while the blocks run. A block that is a whole
program (``asyncio.run(main())``) runs as it is; blocks run in README order, each with a fresh
namespace, against one emulator served from its own thread.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faults.emulator_thread import EmulatorThread

from mp_async import Hosts
from mp_async.emulator import EmulatorState
from mp_async.testing import client_for

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

#: The example user the README's blocks look up.
EXAMPLE_USER = {
    "mpid": 8240373199402373981,
    "user_identities": [
        {"type": "customer_id", "encoding": "none", "value": "12345"},
        {"type": "email", "encoding": "none", "value": "ada@example.com"},
    ],
    "device_identities": [],
    "user_attributes": {"$country": "GB", "plan": "pro"},
    "audience_memberships": [],
    "attribution": [],
}


def _blocks() -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _BLOCK.finditer(text)]


@pytest.fixture(scope="module")
def served() -> Iterator[EmulatorThread]:
    state = EmulatorState(
        client_id="your-client-id",
        client_secret="your-client-secret",
        api_key="your-api-key",
        api_secret="your-api-secret",
    )
    state.add_profile(EXAMPLE_USER)
    thread = EmulatorThread(state=state, profiles=20, seed=1)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def pods_point_at(served: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = served.emu.hosts
    for name in ("us1", "us2", "eu1", "au1"):
        monkeypatch.setattr(Hosts, name, classmethod(lambda cls: hosts))
    monkeypatch.setattr(Hosts, "for_pod", classmethod(lambda cls, pod: hosts))
    monkeypatch.setattr(Hosts, "for_api_key", classmethod(lambda cls, key: hosts))


def test_the_readme_has_python_blocks() -> None:
    assert len(_blocks()) >= 15


@pytest.mark.usefixtures("pods_point_at")
@pytest.mark.parametrize(
    ("line", "source"), _blocks(), ids=[f"README.md:{line}" for line, _ in _blocks()]
)
def test_readme_block_runs(
    served: EmulatorThread,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    line: int,
    source: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # a block that writes a file (a spool) writes it there
    code = compile(source, f"README.md:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    module = types.ModuleType("__readme__")  # a real module: dataclasses look theirs up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace: dict[str, Any] = module.__dict__
    if not code.co_flags & inspect.CO_COROUTINE:
        exec(code, namespace)
        return

    async def run_with_client() -> None:
        async with client_for(served.emu) as mp:
            namespace["mp"] = mp
            result = eval(code, namespace)
            if inspect.isawaitable(result):
                await result

    asyncio.run(run_with_client())

"""Helpers for the command-line tests: an emulator on a thread, the command run in-process
or as a process, and a clock that moves one second each time it is read."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mp_async.cli import main
from mp_async.emulator import Emulator


@contextmanager
def emulator_thread(**kwargs: Any) -> Iterator[Emulator]:
    """An emulator serving from a thread of its own, so the command (with its own event
    loop, in this thread or in a process) can talk to it while the test reads its state."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    emu = Emulator(**kwargs)
    asyncio.run_coroutine_threadsafe(emu.start(), loop).result(10)
    try:
        yield emu
    finally:
        asyncio.run_coroutine_threadsafe(emu.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def env_for(emu: Emulator) -> dict[str, str]:
    """The ``MPARTICLE_*`` variables that point the command at ``emu``."""
    state = emu.state
    return {
        "MPARTICLE_BASE_URL": emu.url,
        "MPARTICLE_CLIENT_ID": state.client_id,
        "MPARTICLE_CLIENT_SECRET": state.client_secret,
        "MPARTICLE_API_KEY": state.api_key,
        "MPARTICLE_API_SECRET": state.api_secret,
        "MPARTICLE_ORG_ID": str(state.org_id),
        "MPARTICLE_ACCOUNT_ID": str(state.account_id),
        "MPARTICLE_WORKSPACE_ID": str(state.workspace_id),
    }


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """Run the command in this process: exit code, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def process(argv: list[str], env: Mapping[str, str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ``mp-async ARGV`` as a process (its output piped unless told otherwise)."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(
        [sys.executable, "-m", "mp_async", *argv], env={**os.environ, **env}, **kwargs
    )


class SteppingClock:
    """A clock that moves one second each time it is read: every interval passes at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def summary_of(err: str) -> dict[str, Any]:
    """The ``--json`` summary a bulk command printed on stderr."""
    for line in reversed(err.splitlines()):
        if line.startswith('{"summary"'):
            return json.loads(line)["summary"]  # type: ignore[no-any-return]
    raise AssertionError(f"no summary in: {err!r}")


def progress_lines(err: str) -> list[dict[str, Any]]:
    """The ``--json`` progress lines a bulk command printed on stderr."""
    return [json.loads(line)["progress"] for line in err.splitlines() if '{"progress"' in line]


def batch(i: int, **extra: Any) -> dict[str, Any]:
    """A valid batch for customer ``c{i}``."""
    return {
        "environment": "development",
        "user_identities": {"customer_id": f"c{i}"},
        "events": [
            {
                "event_type": "custom_event",
                "data": {"event_name": "Test", "custom_event_type": "other"},
            }
        ],
        **extra,
    }


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def customers(emu: Emulator) -> dict[str, set[str]]:
    """Each delivered customer's batches' ``source_request_id``s, over every delivery."""
    seen: dict[str, set[str]] = {}
    for delivered in emu.state.event_batches:
        customer = delivered["user_identities"]["customer_id"]
        seen.setdefault(customer, set()).add(delivered["source_request_id"])
    return seen

"""An emulator served from a thread of its own, for tests whose loop must hold only the client."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from yarl import URL

from mp_async.emulator import Emulator
from mp_async.emulator.faults import Faults


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

    async def _start(self, **overrides: Any) -> Emulator:
        emu = Emulator(**{**self._kwargs, **overrides})
        await emu.start()
        return emu

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run ``coro`` on the emulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def restart(self, downtime: float) -> None:
        """Stop serving, stay down ``downtime`` seconds, then serve again on the same port.

        The state (what was received) survives, as a real service's storage would.
        """
        old = self.emu
        port = URL(old.url).port
        self.call(old.stop())
        time.sleep(downtime)
        self.emu = self.call(self._start(port=port, state=old.state, faults=old.faults))
        self.emu.seeded_mpids = old.seeded_mpids

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

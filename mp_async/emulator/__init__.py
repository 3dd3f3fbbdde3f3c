"""A local mParticle for tests, benchmarks and demos, written with ``aiohttp.web``.

It imports the protocol facts and value objects of the package, never the client.
"""

from .app import Emulator, build_app
from .faults import Faults, ScriptedReply
from .state import EmulatorState

__all__ = ["Emulator", "EmulatorState", "Faults", "ScriptedReply", "build_app"]

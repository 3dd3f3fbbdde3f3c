"""The ``mp-async`` command line (needs the ``cli`` extra: click and rich).

Exit codes: 0 success, 1 an API or transport error, 2 bad usage or input.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    try:
        from .commands import run
    except ImportError as exc:  # click or rich missing
        print(
            f"mp-async: the command line needs the 'cli' extra ({exc.name} is not installed): "
            "pip install 'mp-async[cli]'",
            file=sys.stderr,
        )
        return 2
    return run(argv)

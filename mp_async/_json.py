"""JSON in and out, through orjson when the ``speedups`` extra is installed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["dumps", "loads"]

loads: Callable[[bytes | str], Any]
dumps: Callable[[Any], bytes]

try:
    import orjson
except ImportError:  # pragma: no cover - exercised when the extra is absent
    loads = json.loads
    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

    def dumps(value: Any) -> bytes:
        """Compact UTF-8 JSON bytes."""
        return _encoder.encode(value).encode()

else:
    loads = orjson.loads

    def dumps(value: Any) -> bytes:
        """Compact UTF-8 JSON bytes."""
        return orjson.dumps(value)

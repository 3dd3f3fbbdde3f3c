"""JSON in and out, through orjson when the ``speedups`` extra is installed.

Both backends refuse the same things the same way: a non-finite number (``NaN``,
``Infinity``; the standard library would write them as invalid JSON, orjson as ``null``)
raises ``ValueError`` naming where it is, and a document nested too deep raises ``ValueError``
too (not ``RecursionError``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any

__all__ = ["dumps", "loads", "non_finite_path", "stdlib_dumps"]

loads: Callable[[bytes | str], Any]
dumps: Callable[[Any], bytes]


def non_finite_path(value: Any) -> str | None:
    """Where the first non-finite number in ``value`` is (``user_attributes.ltv``), or None."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend((f"{path}.{key}" if path else str(key), v) for key, v in item.items())
        elif kind is list or kind is tuple:
            stack.extend((f"{path}[{index}]", v) for index, v in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            return path or "(the value itself)"
    return None


def _non_finite(value: Any) -> ValueError:
    where = non_finite_path(value)
    return ValueError(f"{where}: a non-finite number (NaN or Infinity) cannot be sent as JSON")


_TOO_DEEP = "the value is nested too deep to be sent as JSON"
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def stdlib_dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON bytes, with the standard library."""
    try:
        return _encoder.encode(value).encode()
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None
    except ValueError:  # allow_nan=False: a non-finite number
        raise _non_finite(value) from None


try:
    # MP_ASYNC_JSON=stdlib picks the standard library even where orjson is installed: the CI
    # runs the JSON-sensitive tests that way, so both backends are held to the same promises.
    if os.environ.get("MP_ASYNC_JSON") == "stdlib":
        raise ImportError
    import orjson
except ImportError:
    loads = json.loads
    dumps = stdlib_dumps
else:
    loads = orjson.loads

    def dumps(value: Any) -> bytes:
        """Compact UTF-8 JSON bytes."""
        try:
            body = orjson.dumps(value)
        except TypeError as exc:
            if "Recursion limit" in str(exc):
                raise ValueError(_TOO_DEEP) from None
            raise
        # orjson writes NaN and Infinity as null: only a body with a null can hold one, and
        # most bodies have none, so the walk is rarely paid.
        if b"null" in body and non_finite_path(value) is not None:
            raise _non_finite(value)
        return body

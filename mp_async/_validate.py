"""Checks of caller input shared by the package: each raises ``InvalidRequest`` (a
``ValueError``) naming the field and what was allowed, before anything is sent."""

from __future__ import annotations

import math
from typing import Any

import attrs

from .errors import InvalidRequest
from .protocol import ENVIRONMENTS

__all__ = [
    "MPID_MAX",
    "MPID_MIN",
    "non_empty",
    "require_environment",
    "require_int",
    "require_non_empty_str",
    "require_seconds",
]

#: MPIDs are signed 64-bit integers.
MPID_MIN, MPID_MAX = -(2**63), 2**63 - 1


def require_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` if it is an integer (not a bool) from ``low`` to ``high``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f"from {low} to {high}" if high is not None else f">= {low}"
        raise InvalidRequest(f"{name} must be an integer {bounds}, got {value!r}")
    return value


def require_seconds(name: str, value: object) -> float:
    """``value`` if it is a finite, positive number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise InvalidRequest(f"{name} must be a finite, positive number of seconds, got {value!r}")
    return float(value)


def require_non_empty_str(name: str, value: object) -> str:
    """``value`` if it is a string with something other than whitespace in it."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{name} must be a non-empty string, got {value!r}")
    return value


def require_environment(name: str, value: object) -> str:
    """``value`` if it is one of the documented environments."""
    if value not in ENVIRONMENTS:
        raise InvalidRequest(f"{name} must be one of {', '.join(ENVIRONMENTS)}, got {value!r}")
    return str(value)


def non_empty(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An attrs validator: the field must be a non-empty string (the value is not echoed:
    it may be a secret)."""
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            f"{type(instance).__name__}.{attribute.name} must be a non-empty string"
        )

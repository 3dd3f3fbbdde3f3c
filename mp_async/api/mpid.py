"""MPIDs, the mParticle user ids every API speaks of: signed 64-bit integers."""

from __future__ import annotations

import re

from ..errors import InvalidRequest

__all__ = ["mpid_from_text", "validate_mpid"]

_MPID_MIN, _MPID_MAX = -(2**63), 2**63 - 1
# ASCII digits only: str.isdigit() also takes "²" and other digits int() refuses.
_DIGITS = re.compile(r"\s*-?[0-9]+\s*")


def mpid_from_text(text: str) -> int | None:
    """The integer a string of ASCII digits (optionally signed) spells, or None."""
    return int(text) if _DIGITS.fullmatch(text) else None


def validate_mpid(mpid: object) -> int:
    """An MPID as an int: a signed 64-bit integer, given as an int or a string of digits."""
    if isinstance(mpid, bool):
        raise InvalidRequest(f"mpid must be a signed 64-bit integer, got {mpid!r}")
    value: int
    if isinstance(mpid, int):
        value = mpid
    elif isinstance(mpid, str) and (parsed := mpid_from_text(mpid)) is not None:
        value = parsed
    else:
        raise InvalidRequest(f"mpid must be a signed 64-bit integer, got {mpid!r}")
    if not _MPID_MIN <= value <= _MPID_MAX or value == 0:
        raise InvalidRequest(f"mpid must be a non-zero signed 64-bit integer, got {mpid!r}")
    return value

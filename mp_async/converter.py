"""The package's one cattrs converter: JSON documents to models and back.

Unknown keys in a reply are ignored (the server may add fields at any time); a missing
optional field takes its default.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, TypeVar

import cattrs

from .errors import UnexpectedResponse

__all__ = ["converter", "parse_datetime", "structure"]

T = TypeVar("T")

converter = cattrs.Converter(forbid_extra_keys=False, omit_if_default=False)

# ISO 8601 as mParticle's APIs write it: "2014-11-14T22:46:38.673" (no zone, meaning UTC),
# "...Z", "...-04:00", and from 0 to 7 fractional digits, which datetime.fromisoformat
# only accepts from Python 3.11 on.
_ISO_8601 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)


def parse_datetime(value: object) -> datetime:
    """An aware datetime from an ISO 8601 string; one without a zone is taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and (match := _ISO_8601.fullmatch(value.strip())):
        date, clock, fraction, zone = match.groups()
        if len(clock) == 5:
            clock += ":00"
        micro = (fraction or "")[:6].ljust(6, "0")
        if zone is None or zone in ("Z", "z"):
            offset = "+00:00"
        else:
            digits = zone[1:].replace(":", "").ljust(4, "0")
            offset = f"{zone[0]}{digits[:2]}:{digits[2:]}"
        parsed = datetime.fromisoformat(f"{date}T{clock}.{micro}{offset}")
    else:
        raise ValueError(f"not an ISO 8601 date and time: {value!r}"[:120])
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


converter.register_structure_hook(datetime, lambda value, _: parse_datetime(value))
converter.register_unstructure_hook(datetime, datetime.isoformat)


def structure(document: Any, cls: type[T], *, method: str = "", path: str = "") -> T:
    """Decode ``document`` into ``cls``; a reply of the wrong shape raises UnexpectedResponse."""
    try:
        return converter.structure(document, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise UnexpectedResponse(
            f"{method} {path}: the reply does not have the shape of a {cls.__name__} ({exc})"[:400],
            status=200,
            method=method,
            path=path,
        ) from None

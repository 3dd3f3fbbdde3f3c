"""The package's one cattrs converter: JSON documents to models and back.

Unknown keys in a reply are ignored (the server may add fields at any time); a missing
optional field takes its default.
"""

from __future__ import annotations

from typing import Any, TypeVar

import cattrs

from .errors import UnexpectedResponse

__all__ = ["converter", "structure"]

T = TypeVar("T")

converter = cattrs.Converter(forbid_extra_keys=False, omit_if_default=False)


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

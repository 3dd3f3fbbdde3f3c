"""HTTP Basic: ``Authorization: Basic base64(key:secret)`` (Events API, and Identity)."""

from __future__ import annotations

import base64
import re

import attrs

from ..errors import InvalidRequest
from ..request import Request
from .base import Sender

__all__ = ["BasicAuth", "basic_authorization"]


def basic_authorization(api_key: str, api_secret: str) -> str:
    """The ``Authorization`` header value for ``api_key`` and ``api_secret``."""
    token = base64.b64encode(f"{api_key}:{api_secret}".encode()).decode("ascii")
    return f"Basic {token}"


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            f"{type(instance).__name__}.{attribute.name} must be a non-empty string"
        )


_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


def _header_value(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    """A value sent in a header as is: non-empty visible ASCII (no line break to inject with)."""
    _non_empty(instance, attribute, value)
    if not _VISIBLE_ASCII.fullmatch(value):
        # The value is not echoed: it may be a secret pasted with a stray newline.
        raise InvalidRequest(
            f"{type(instance).__name__}.{attribute.name} must be visible ASCII characters "
            "without spaces (it is sent in a header)"
        )


@attrs.frozen
class BasicAuth:
    """Basic auth with an API key and secret; the header is computed once, here."""

    api_key: str = attrs.field(validator=_non_empty)
    api_secret: str = attrs.field(validator=_non_empty, repr=False)
    _header: dict[str, str] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        header = {"Authorization": basic_authorization(self.api_key, self.api_secret)}
        object.__setattr__(self, "_header", header)

    async def apply(self, request: Request, sender: Sender) -> Request:
        """Add the Basic ``Authorization`` header."""
        return request.with_headers(self._header, secrets=(self.api_secret,))

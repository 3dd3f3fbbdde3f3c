"""Key only: an ``x-mp-key`` header and nothing else (Identity, where the workspace allows it)."""

from __future__ import annotations

import attrs

from ..request import Request
from .base import Sender
from .basic import _header_value

__all__ = ["ApiKeyAuth"]


@attrs.frozen
class ApiKeyAuth:
    """Sends the API key alone. mParticle accepts this only where it has been switched on."""

    api_key: str = attrs.field(validator=_header_value)

    async def apply(self, request: Request, sender: Sender) -> Request:
        """Add the ``x-mp-key`` header."""
        return request.with_headers({"x-mp-key": self.api_key})

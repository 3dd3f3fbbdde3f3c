"""What an auth strategy is: one object that adds credentials to one Request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..request import Request, Response

__all__ = ["AuthStrategy", "RefreshableAuth", "Sender"]


class Sender(Protocol):
    """What a strategy may use to make requests of its own (the OAuth token call)."""

    async def send(self, request: Request, auth: AuthStrategy | None = None) -> Response:
        """Send ``request`` with the sender's pool, timeouts and retry policy."""
        ...


@runtime_checkable
class AuthStrategy(Protocol):
    """Adds credentials to a request. The Session calls ``apply`` once per attempt."""

    async def apply(self, request: Request, sender: Sender) -> Request:
        """Return ``request`` with credentials added."""
        ...


@runtime_checkable
class RefreshableAuth(AuthStrategy, Protocol):
    """A strategy whose credentials can go stale and be fetched again after a 401."""

    def invalidate(self, sent: Request) -> bool:
        """Forget the credentials ``sent`` carried; True if a retry can get fresh ones."""
        ...

"""The one funnel every API class goes through: its session, its credentials, its hosts."""

from __future__ import annotations

from typing import ClassVar

from ..auth.base import AuthStrategy
from ..auth.oauth import with_token_url_of
from ..errors import MissingCredentials
from ..hosts import Hosts
from ..request import Request, Response
from ..session import Session

__all__ = ["APIBase"]


class APIBase:
    """What the API classes share: ``send`` with the API's credentials, on one ``Session``.

    A subclass names itself and the credentials it needs (for the error when they are
    missing). Any ``AuthStrategy`` fits; an OAuth strategy without a ``token_url`` takes the
    one of ``hosts``, so a local emulator's API never posts a secret to production SSO.
    """

    #: How the error for missing credentials names the API and what to pass.
    needs: ClassVar[str] = "credentials"

    def __init__(
        self, session: Session, auth: AuthStrategy | None, hosts: Hosts | None = None
    ) -> None:
        self.hosts = hosts or Hosts.us1()
        self._session = session
        self._auth = with_token_url_of(auth, self.hosts)

    def _credentials(self) -> AuthStrategy:
        if self._auth is None:
            raise MissingCredentials(f"the {self.needs}")
        return self._auth

    async def _send(self, request: Request) -> Response:
        """Send ``request`` with this API's credentials through the session."""
        return await self._session.send(request, self._credentials())

"""The one funnel every API class goes through: its session, its credentials, its hosts."""

from __future__ import annotations

import copy
from typing import ClassVar, TypeVar

from ..auth.base import AuthStrategy
from ..auth.oauth import with_token_url_of
from ..errors import MissingCredentials
from ..hosts import Hosts
from ..request import Request, Response
from ..retry import RetryPolicy
from ..session import CallOptions, Session

__all__ = ["APIBase"]

A = TypeVar("A", bound="APIBase")


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
        self._options: CallOptions | None = None

    def with_options(
        self: A,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        deadline: float | None = None,
    ) -> A:
        """This API with other settings for its calls, on the same connection pool and
        credentials: ``await mp.profiles.with_options(timeout=2).get(mpid)``.

        ``timeout``: seconds an attempt may take once it has a connection; ``retry``: the
        retry policy; ``deadline``: seconds the whole call may take, retries and waits
        included. Unset ones keep their current value. Cheap: make one per call if you like.
        """
        given = CallOptions(timeout=timeout, retry=retry, deadline=deadline)
        view = copy.copy(self)
        view._options = given if self._options is None else self._options.merged(given)
        return view

    def _credentials(self) -> AuthStrategy:
        if self._auth is None:
            raise MissingCredentials(f"the {self.needs}")
        return self._auth

    async def _send(self, request: Request, auth: AuthStrategy | None = None) -> Response:
        """Send ``request`` through the session, with ``auth`` (default: this API's
        credentials) and this view's options."""
        auth = self._credentials() if auth is None else auth
        if self._options is None:  # the plain call: a Session subclass need not know options
            return await self._session.send(request, auth)
        return await self._session.send(request, auth, options=self._options)

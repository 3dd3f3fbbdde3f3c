"""Where OAuth tokens are kept, so that several clients (or processes) fetch one between them.

An ``OAuthClientCredentials`` strategy keeps its token in memory by default, for the clients
that share the strategy. Give it a ``token_cache`` and it looks there first, and fetches under
the cache's lock, so that of all the clients using the cache one asks the token endpoint and
the others read what it stored: ``MemoryTokenCache`` within one process,
``mp_async.redis.RedisTokenCache`` across processes and machines.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

import attrs

__all__ = ["CachedToken", "MemoryTokenCache", "TokenCache"]


@attrs.frozen
class CachedToken:
    """An access token as a cache keeps it: with the wall-clock times (seconds since the
    epoch) it was issued and expires, since other processes and machines read it too."""

    access_token: str = attrs.field(repr=False)
    issued_at: float
    expires_at: float


@runtime_checkable
class TokenCache(Protocol):
    """A shared home for access tokens, with a lock so that one holder fetches for all.

    ``key`` names a client id, token URL and audience; it never holds a secret. A cache that
    cannot be reached behaves as an empty one with no lock (each client fetches its own
    token), so that it never stops a request.
    """

    async def get(self, key: str) -> CachedToken | None:
        """The token stored under ``key`` (expired or not), or None."""
        ...

    async def put(self, key: str, token: CachedToken) -> None:
        """Store ``token`` under ``key`` until it expires."""
        ...

    def lock(self, key: str, timeout: float) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the lock for ``key``: wait while another holder fetches (at most ``timeout``
        seconds, after which the caller goes ahead alone)."""
        ...


class MemoryTokenCache:
    """A ``TokenCache`` in this process: clients built apart (one per tenant, per thread's
    loop...) with one client id share one token."""

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"MemoryTokenCache({len(self._tokens)} token(s))"

    async def get(self, key: str) -> CachedToken | None:
        return self._tokens.get(key)

    async def put(self, key: str, token: CachedToken) -> None:
        self._tokens[key] = token

    @contextlib.asynccontextmanager
    async def lock(self, key: str, timeout: float) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), timeout)
        except asyncio.TimeoutError:
            yield  # the holder is stuck: go ahead alone rather than stop the request
            return
        try:
            yield
        finally:
            lock.release()

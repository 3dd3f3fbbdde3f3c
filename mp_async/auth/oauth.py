"""OAuth client credentials: one cached bearer token, shared, refreshed ahead of expiry.

mParticle's tokens live 8 hours, cannot be revoked and take 1-3 s to issue, so the strategy
fetches one, shares it between every caller, and refreshes it in the background a margin
before it expires. However many coroutines need a token at once, one request is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from .. import _json
from ..errors import InvalidRequest, UnexpectedResponse
from ..hosts import Hosts, check_base_url
from ..protocol import OAUTH_AUDIENCE, OAUTH_TOKEN_PATH, TOKEN_LIFETIME
from ..request import Request, Response
from .base import Sender
from .basic import _non_empty
from .cache import CachedToken, TokenCache

__all__ = ["DEFAULT_TOKEN_URL", "OAuthClientCredentials", "with_token_url_of"]

log = logging.getLogger("mp_async.auth")

DEFAULT_TOKEN_URL = f"https://sso.auth.mparticle.com{OAUTH_TOKEN_PATH}"


@attrs.frozen
class _Token:
    authorization: str = attrs.field(repr=False)  # "Bearer <access token>"
    refresh_at: float  # monotonic: start a background refresh from here
    expires_at: float  # monotonic: never send it after this
    header: dict[str, str] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        # Built once per token rather than once per request.
        object.__setattr__(self, "header", {"Authorization": self.authorization})


A = TypeVar("A")


def _stripped(value: str | None) -> str | None:
    # Surrounding whitespace, such as the newline a .env file leaves, is not part of a URL.
    return value.strip() if isinstance(value, str) else value


@attrs.define
class OAuthClientCredentials:
    """Bearer tokens for the Profile, Platform and Group APIs from a client id and secret.

    ``refresh_margin`` is how long before expiry a refresh starts (default 5 minutes, never more
    than half a token's lifetime); callers keep using the current token meanwhile. The token
    call has its own ``token_timeout``. ``token_url`` defaults to the one named by the client's
    ``Hosts``, or US1's when the strategy is used on its own.

    ``token_cache`` (a ``TokenCache``: ``MemoryTokenCache``, ``mp_async.redis.RedisTokenCache``)
    shares tokens beyond this strategy: a token is looked for there first, and fetched under
    the cache's lock, so that of all the clients (or processes) using the cache with this
    client id, one asks the token endpoint and the others read what it stored.
    """

    client_id: str = attrs.field(validator=_non_empty)
    client_secret: str = attrs.field(validator=_non_empty, repr=False)
    # Checked when the strategy is built (no credentials, no control characters), so neither
    # a repr nor a log line can show a password in it.
    token_url: str | None = attrs.field(default=None, converter=_stripped)
    audience: str = OAUTH_AUDIENCE
    refresh_margin: float = 300.0
    token_timeout: float = 10.0
    clock: Callable[[], float] = attrs.field(default=time.monotonic, repr=False, eq=False)
    token_cache: TokenCache | None = attrs.field(default=None, repr=False, eq=False)
    _token: _Token | None = attrs.field(default=None, init=False, repr=False, eq=False)
    _refresh: asyncio.Task[_Token] | None = attrs.field(
        default=None, init=False, repr=False, eq=False
    )
    #: How many token requests this strategy has made (for monitoring and tests).
    fetch_count: int = attrs.field(default=0, init=False, eq=False)
    # The access token a 401 condemned: a shared cache may still hold it, and it is not used.
    _rejected: str | None = attrs.field(default=None, init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.refresh_margin < math.inf:
            raise InvalidRequest(
                "OAuthClientCredentials.refresh_margin must be a finite number >= 0"
            )
        if not 0 < self.token_timeout < math.inf:
            raise InvalidRequest(
                "OAuthClientCredentials.token_timeout must be a finite number of seconds > 0"
            )
        if self.token_url is not None:
            check_base_url("OAuthClientCredentials.token_url", self.token_url)

    async def apply(self, request: Request, sender: Sender) -> Request:
        """Add ``Authorization: Bearer …``, fetching or refreshing the token as needed."""
        token = self._token
        now = self.clock()
        if token is None or now >= token.expires_at:
            token = await self._wait_for_refresh(sender)
        elif now >= token.refresh_at:
            self._start_refresh(sender)
        return request.with_headers(token.header)

    def invalidate(self, sent: Request) -> bool:
        """After a 401: drop the cached token, but only if it is the one ``sent`` carried."""
        token = self._token
        sent_auth = sent.headers.get("Authorization")
        if token is not None and token.authorization == sent_auth:
            self._token = None
        if sent_auth is not None and self.token_cache is not None:
            self._rejected = sent_auth
        # Either we just dropped it, or another caller already replaced it: a retry gets a
        # fresh one. A request that carried no token of ours gains nothing by retrying.
        return sent_auth is not None

    async def _wait_for_refresh(self, sender: Sender) -> _Token:
        # Every waiter awaits the same task; it is shielded so that one caller's cancellation
        # does not cancel the fetch the others are waiting for.
        return await asyncio.shield(self._start_refresh(sender))

    def _start_refresh(self, sender: Sender) -> asyncio.Task[_Token]:
        task = self._refresh
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._fetch(sender))
            task.add_done_callback(_consume_exception)
            self._refresh = task
        return task

    async def _fetch(self, sender: Sender) -> _Token:
        cache = self.token_cache
        if cache is None:
            return (await self._fetch_new(sender))[0]
        key = self.cache_key
        token = self._usable(await cache.get(key))
        if token is None:
            # One fetch among everyone sharing the cache: the others wait here and then find
            # the token it stored.
            async with cache.lock(key, timeout=self.token_timeout + 5.0):
                token = self._usable(await cache.get(key))
                if token is None:
                    issued = time.time()  # the wall clock: other processes read it
                    token, access_token, lifetime = await self._fetch_new(sender)
                    await cache.put(key, CachedToken(access_token, issued, issued + lifetime))
                    return token
        self._token = token
        log.debug("using a cached OAuth token")
        return token

    @property
    def cache_key(self) -> str:
        """This strategy's name in a ``TokenCache``: the client id and a digest of the token
        URL and audience (never the secret)."""
        where = f"{self.token_url or DEFAULT_TOKEN_URL}|{self.audience}".encode()
        return f"{self.client_id}:{hashlib.sha256(where).hexdigest()[:16]}"

    def _usable(self, cached: CachedToken | None) -> _Token | None:
        """A cached token as this strategy keeps it, if it is not due for a refresh (nor
        rejected by a 401 since)."""
        if cached is None or f"Bearer {cached.access_token}" == self._rejected:
            return None
        if not _TOKEN_CHARS.fullmatch(cached.access_token):
            return None
        wall, now = time.time(), self.clock()
        margin = min(self.refresh_margin, (cached.expires_at - cached.issued_at) / 2)
        if wall >= cached.expires_at - margin:
            return None
        return _Token(
            authorization=f"Bearer {cached.access_token}",
            refresh_at=now + cached.expires_at - margin - wall,
            expires_at=now + cached.expires_at - wall,
        )

    async def _fetch_new(self, sender: Sender) -> tuple[_Token, str, float]:
        """A new token from the token endpoint, with its access token and lifetime."""
        url = self.token_url or DEFAULT_TOKEN_URL
        request = Request.json(
            "POST",
            url,
            {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "audience": self.audience,
                "grant_type": "client_credentials",
            },
            bucket="sso",
            timeout=self.token_timeout,
            secrets=(self.client_secret,),
            idempotent=True,  # a second token is as good as the first
        )
        self.fetch_count += 1
        started = self.clock()
        log.debug("fetching an OAuth token from %s", request.parsed_url.with_user(None))
        response = await sender.send(request)
        access_token, lifetime = _read_token_reply(response)
        margin = min(self.refresh_margin, lifetime / 2)
        token = _Token(
            authorization=f"Bearer {access_token}",
            refresh_at=started + lifetime - margin,
            expires_at=started + lifetime,
        )
        self._token = token
        log.debug("got an OAuth token valid for %.0f s", lifetime)
        return token, access_token, lifetime


def with_token_url_of(auth: A, hosts: Hosts) -> A:
    """``auth``, with the token URL of ``hosts`` if it is an OAuth strategy without one.

    The one rule for where a token is fetched: an explicit ``token_url`` wins; otherwise the
    hosts the strategy is used with (a local emulator, another pod) name it.
    """
    if isinstance(auth, OAuthClientCredentials) and auth.token_url is None:
        return attrs.evolve(auth, token_url=hosts.token_url)
    return auth


#: What a bearer token may hold: visible ASCII, so it can go in a header as is (no line
#: break to inject another header, nothing aiohttp would have to encode).
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")


def _read_token_reply(response: Response) -> tuple[str, float]:
    """The access token and its lifetime in seconds from a token reply, or a clear error.

    The reply holds a secret, so an error keeps none of its text: only its field names, or
    its content type and length when it is not a JSON object.
    """
    try:
        document: Any = _json.loads(response.body)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict):
        access_token = document.get("access_token")
        expires_in = document.get("expires_in", TOKEN_LIFETIME)
        if (
            isinstance(access_token, str)
            and _TOKEN_CHARS.fullmatch(access_token)
            and isinstance(expires_in, (int, float))
            and not isinstance(expires_in, bool)
            and 0 < expires_in < math.inf
        ):
            return access_token, float(expires_in)
        problem = "has no usable access_token and expires_in"
        shape = "{" + ", ".join(repr(str(k)[:40]) for k in list(document)[:20]) + "}"
    else:
        problem = "is not a JSON object"
        content_type = response.headers.get("Content-Type", "no content type")
        shape = f"({content_type[:60]}, {len(response.body)} bytes)"
    raise UnexpectedResponse(
        f"{response.method or 'POST'} {response.path} -> {response.status}: the token reply "
        f"{problem} {shape}",
        status=response.status,
        method=response.method or "POST",
        path=response.path,
        body_excerpt=shape,
    )


def _consume_exception(task: asyncio.Task[_Token]) -> None:
    # A background refresh that failed is retried by the next caller; its error must not be
    # reported as "never retrieved".
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()

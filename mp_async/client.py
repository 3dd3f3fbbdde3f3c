"""``MParticle``: one long-lived object per application, holding a Session and every API."""

from __future__ import annotations

import copy
import functools
import os
import ssl as ssl_module
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .auth.base import AuthStrategy
from .errors import InvalidRequest
from .hosts import Hosts, Workspace
from .retry import RetryPolicy
from .session import DEFAULT_TIMEOUT, CallOptions, Session

if TYPE_CHECKING:
    from .api._base import APIBase
    from .api.events import EventsAPI
    from .api.groups import GroupsAPI
    from .api.identity import IdentityAPI
    from .api.platform import PlatformAPI
    from .api.profiles import ProfileAPI
    from .auth.cache import TokenCache
    from .ratelimit import RateLimiter

__all__ = ["MParticle"]


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


A = TypeVar("A", bound="APIBase")


class MParticle:
    """The client: ``async with MParticle(...) as mp: await mp.profiles.get(mpid)``.

    ``oauth`` serves the Profile, Platform and Group APIs; ``identity_auth`` the Identity API;
    ``events_auth`` the Events API. Each takes any auth strategy (``OAuthClientCredentials``,
    ``HmacDigestAuth``, ``BasicAuth``, ``ApiKeyAuth`` or your own). An API whose credentials were not given raises
    ``MissingCredentials`` when called. All APIs share one connection pool and retry policy.

    ``rate_limit`` (requests/s) is the account's provisioned limit, if you know it; the rate is
    learned either way. ``rate_limiter`` replaces the in-memory rate control (a
    ``mp_async.redis.RedisRateLimiter`` shares it between processes), and ``token_cache`` is
    where the OAuth token is kept (``mp_async.redis.RedisTokenCache``: one fetch for all the
    processes). Both are yours to close; ``from_env`` makes and closes them for you when
    ``MPARTICLE_REDIS_URL`` is set.
    """

    def __init__(
        self,
        *,
        oauth: AuthStrategy | None = None,
        identity_auth: AuthStrategy | None = None,
        events_auth: AuthStrategy | None = None,
        workspace: Workspace | None = None,
        hosts: Hosts | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = 100,
        ssl: ssl_module.SSLContext | bool = True,
        session: Session | None = None,
        rate_limit: float | Mapping[str, float] | None = None,
        rate_limiter: RateLimiter | None = None,
        token_cache: TokenCache | None = None,
        proxy: str | None = None,
        trust_env: bool = False,
    ) -> None:
        self.hosts = hosts or Hosts.us1()
        self.workspace = workspace
        from .auth.oauth import with_token_url_of  # here: importing the package stays light

        if token_cache is not None:
            from .auth.oauth import OAuthClientCredentials

            if not isinstance(oauth, OAuthClientCredentials):
                raise InvalidRequest(
                    "token_cache keeps OAuth tokens: pass oauth=OAuthClientCredentials(...) too"
                )
            oauth = attrs.evolve(oauth, token_cache=token_cache)
        if rate_limit is not None and rate_limiter is not None:
            raise InvalidRequest(
                "rate_limit and rate_limiter were both given: pass rate_limit to the limiter "
                "(RedisRateLimiter(..., rate_limit=...))"
            )
        # Bound once here, so the Profile, Platform and Group APIs share one token.
        self.oauth = with_token_url_of(oauth, self.hosts)
        self.identity_auth = identity_auth
        self.events_auth = events_auth
        if session is not None:
            given = {
                "retry": retry is not None,
                "timeout": timeout != DEFAULT_TIMEOUT,
                "max_connections": max_connections != 100,
                "ssl": ssl is not True,
                "rate_limit": rate_limit is not None,
                "rate_limiter": rate_limiter is not None,
                "proxy": proxy is not None,
                "trust_env": trust_env,
            }
            ignored = [name for name, set_ in given.items() if set_]
            if ignored:
                raise InvalidRequest(
                    f"{', '.join(ignored)} configure the Session; with session=... pass them to "
                    "Session(...) instead"
                )
        self.session = session or Session(
            retry=retry,
            timeout=timeout,
            max_connections=max_connections,
            ssl=ssl,
            rate_limit=rate_limit,
            rate_limiter=rate_limiter,
            proxy=proxy,
            trust_env=trust_env,
        )
        self._options: CallOptions | None = None
        self._view = False
        # What from_env made for this client (Redis connections), closed with it.
        self._owned: list[Any] = []

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> MParticle:
        """A client configured from ``MPARTICLE_*`` environment variables (see the README)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(f"MPARTICLE_{name}")
            return value if value else None

        kwargs: dict[str, object] = {}
        client_id, client_secret = get("CLIENT_ID"), get("CLIENT_SECRET")
        if client_id and client_secret:
            from .auth.oauth import OAuthClientCredentials

            kwargs["oauth"] = OAuthClientCredentials(client_id, client_secret)
        api_key, api_secret = get("API_KEY"), get("API_SECRET")
        if api_key and api_secret:
            from .auth.basic import BasicAuth
            from .auth.hmac import HmacDigestAuth

            kwargs["identity_auth"] = HmacDigestAuth(api_key, api_secret)
            kwargs["events_auth"] = BasicAuth(api_key, api_secret)
        ids = {name: get(name.upper()) for name in ("org_id", "account_id", "workspace_id")}
        if all(ids.values()):
            try:
                kwargs["workspace"] = Workspace(**{k: int(v or "") for k, v in ids.items()})
            except ValueError:
                raise InvalidRequest(
                    "MPARTICLE_ORG_ID, MPARTICLE_ACCOUNT_ID and MPARTICLE_WORKSPACE_ID must be "
                    "positive integers"
                ) from None
        base_url, pod = get("BASE_URL"), get("POD")
        if base_url:
            kwargs["hosts"] = Hosts.local(base_url)
        elif pod:
            kwargs["hosts"] = Hosts.for_pod(pod)
        elif api_key:
            kwargs["hosts"] = Hosts.for_api_key(api_key)
        kwargs.update(overrides)
        redis_url = get("REDIS_URL")
        owned: list[Any] = []
        if redis_url and "rate_limiter" not in overrides:
            # One account, many processes: the rate budget, the gate and the token on Redis.
            try:
                from .redis import RedisRateLimiter, RedisTokenCache
            except ImportError:
                raise InvalidRequest(
                    "MPARTICLE_REDIS_URL is set but the redis package is not installed: "
                    "pip install 'mp-async[redis]'"
                ) from None
            try:
                # It owns its connection (closed with it); the token cache shares it.
                limiter = RedisRateLimiter.from_url(
                    redis_url,
                    namespace=client_id or api_key or "default",
                    rate_limit=kwargs.pop("rate_limit", None),  # type: ignore[arg-type]
                )
            except InvalidRequest:
                raise  # a bad rate_limit: its own message
            except ValueError as exc:  # redis-py's, for the URL
                raise InvalidRequest(
                    f"MPARTICLE_REDIS_URL must be a redis:// URL ({_first_line(exc)})"
                ) from None
            owned.append(limiter)
            kwargs["rate_limiter"] = limiter
            if kwargs.get("oauth") is not None and "token_cache" not in overrides:
                kwargs["token_cache"] = RedisTokenCache(limiter.redis)
        mp = cls(**kwargs)  # type: ignore[arg-type]
        mp._owned = owned
        return mp

    def __repr__(self) -> str:
        return f"MParticle(hosts={self.hosts!r}, workspace={self.workspace!r})"

    async def __aenter__(self) -> MParticle:
        await self.session.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool. Safe to call more than once. On a ``with_options`` view
        it does nothing: the pool is the client's it was made from."""
        if not self._view:
            await self.session.close()
            owned, self._owned = self._owned, []
            for resource in owned:
                await resource.aclose()

    def with_options(
        self,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        deadline: float | None = None,
    ) -> MParticle:
        """A view of this client whose calls use other settings, sharing its connection pool,
        credentials, token and rate control: ``fast = mp.with_options(timeout=2, deadline=5)``.

        ``timeout``: seconds an attempt may take once it has a connection; ``retry``:
        the retry policy; ``deadline``: seconds a whole call may take, retries, throttling
        waits and pacing included (then ``RequestTimeout``, or ``RateLimited`` for a wait
        that would not fit). Unset ones keep this client's. A view is cheap; closing it does
        not close the pool. Each API has ``with_options`` too, for a single call.
        """
        given = CallOptions(timeout=timeout, retry=retry, deadline=deadline)
        view = copy.copy(self)
        view.__dict__ = {
            name: value
            for name, value in self.__dict__.items()
            if name not in ("profiles", "identity", "groups", "platform", "events")
        }
        view._options = given if self._options is None else self._options.merged(given)
        view._view = True
        return view

    def _configured(self, api: A) -> A:
        api._options = self._options
        return api

    def _require_workspace(self, api: str) -> Workspace:
        if self.workspace is None:
            raise InvalidRequest(
                f"the {api} needs a workspace: pass workspace=Workspace(org_id, account_id, "
                "workspace_id)"
            )
        return self.workspace

    # Each API is built on first use (the ones whose credentials were not given raise
    # MissingCredentials when called) and kept: they share this client's Session. Its module
    # is imported then too: a program that uses one API pays at start-up for that one alone.

    @functools.cached_property
    def profiles(self) -> ProfileAPI:
        """The Profile API (needs ``oauth`` and ``workspace``)."""
        from .api.profiles import ProfileAPI

        workspace = self._require_workspace("Profile API")
        return self._configured(ProfileAPI(self.session, self.oauth, workspace, self.hosts))

    @functools.cached_property
    def identity(self) -> IdentityAPI:
        """The Identity API, IDSync (needs ``identity_auth``, ideally ``HmacDigestAuth``)."""
        from .api.identity import IdentityAPI

        return self._configured(IdentityAPI(self.session, self.identity_auth, self.hosts))

    @functools.cached_property
    def groups(self) -> GroupsAPI:
        """The Group Identity API (needs ``oauth`` and ``workspace``)."""
        from .api.groups import GroupsAPI

        workspace = self._require_workspace("Group Identity API")
        return self._configured(
            GroupsAPI(self.session, self.oauth, workspace.workspace_id, self.hosts)
        )

    @functools.cached_property
    def platform(self) -> PlatformAPI:
        """The Platform API (needs ``oauth`` and ``workspace``, whose account it is scoped to)."""
        from .api.platform import PlatformAPI

        workspace = self._require_workspace("Platform API")
        return self._configured(PlatformAPI(self.session, self.oauth, workspace, self.hosts))

    @functools.cached_property
    def events(self) -> EventsAPI:
        """The Events API: batches, bulk upload, the background uploader (needs ``events_auth``)."""
        from .api.events import EventsAPI

        return self._configured(EventsAPI(self.session, self.events_auth, self.hosts))

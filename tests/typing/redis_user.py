"""A user's program sharing one account's budget and token between processes, as the README
shows it: type-checked with ``mypy --strict`` by ``.ci/run``, not run."""

from __future__ import annotations

from mp_async import MParticle, Workspace
from mp_async.auth import MemoryTokenCache, OAuthClientCredentials, TokenCache
from mp_async.ratelimit import RateLimiter
from mp_async.redis import RedisRateLimiter, RedisTokenCache, connect


async def shared(url: str) -> dict[str, object]:
    redis = connect(url)
    limiter: RateLimiter = RedisRateLimiter(redis, namespace="client-id", rate_limit=15)
    cache: TokenCache = RedisTokenCache(redis)
    async with MParticle(
        oauth=OAuthClientCredentials("client-id", "client-secret"),
        workspace=Workspace(org_id=1, account_id=2, workspace_id=3),
        rate_limiter=limiter,
        token_cache=cache,
    ) as mp:
        profile = await mp.profiles.get(42)
        rate: float | None = mp.session.rate_limiter.rate("profile")
        assert rate is None or rate > 0
    await redis.aclose()
    return dict(profile.user_attributes)


def in_one_process() -> list[MParticle]:
    cache = MemoryTokenCache()
    oauth = OAuthClientCredentials("client-id", "client-secret")
    workspace = Workspace(org_id=1, account_id=2, workspace_id=3)
    return [MParticle(oauth=oauth, workspace=workspace, token_cache=cache) for _ in range(3)]


def from_the_environment() -> MParticle:
    return MParticle.from_env({"MPARTICLE_REDIS_URL": "redis://localhost:6379/0"})

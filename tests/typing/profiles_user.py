"""A FastAPI-free user program: look a user up, fan out, handle the typed errors."""

from __future__ import annotations

import asyncio

from mp_async import MParticle, NotFound, RateLimited, RetryPolicy, Workspace
from mp_async.auth import OAuthClientCredentials


async def main() -> int:
    async with MParticle(
        oauth=OAuthClientCredentials("client-id", "client-secret"),
        workspace=Workspace(org_id=1, account_id=2, workspace_id=3),
        retry=RetryPolicy(max_attempts=5),
    ) as mp:
        try:
            profile = await mp.profiles.get(123, fields=["user_attributes"])
        except NotFound:
            return 0
        except RateLimited as exc:
            print(exc.retry_after)
            return 1
        attributes: dict[str, object] = dict(profile.user_attributes)
        print(attributes)
        found = 0
        async for result in mp.profiles.get_many([1, 2, 3], concurrency=8):
            if result.profile is not None:
                found += 1
        return found


if __name__ == "__main__":
    asyncio.run(main())

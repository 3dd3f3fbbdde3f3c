"""A FastAPI-free user program: look a user up, fan out, handle the typed errors."""

from __future__ import annotations

import asyncio
import contextlib

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
            if result.ok:  # narrows: the profile is a Profile here ...
                attributes = dict(result.profile.user_attributes)
                found += len(attributes) >= 0
            else:  # ... and the error an MParticleError here
                print(type(result.error).__name__, result.error)
        # Leaving early closes the generator and cancels what is in flight.
        async with contextlib.aclosing(mp.profiles.get_many(range(1, 1000))) as results:
            async for result in results:
                if not result.ok:
                    break
        # Per-call settings: a view sharing the pool, or one API's for a single call.
        quick = mp.with_options(timeout=2.0, deadline=5.0)
        await quick.profiles.get(42)
        await mp.profiles.with_options(retry=RetryPolicy(max_attempts=1)).get(42)
        return found


if __name__ == "__main__":
    asyncio.run(main())

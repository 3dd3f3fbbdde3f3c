"""One worker process of a fleet sharing an account through Redis (tests/test_redis.py and
benchmarks/multiprocess.py start several).

Configured as a deployment would be, from the environment (``MPARTICLE_BASE_URL``, the
credentials, the workspace and ``MPARTICLE_REDIS_URL``); it waits for the wall-clock time
``START`` so that the fleet starts together, looks up the MPIDs in ``MPIDS_FILE`` (one a
line) with ``get_many`` at ``CONCURRENCY``, and prints one JSON line: lookups found and
failed, token requests made, and when it started and finished (the server counts the 429s).

    python redis_worker.py MPIDS_FILE START CONCURRENCY [RATE_LIMIT]

Without ``MPARTICLE_REDIS_URL`` it learns the limit alone (the benchmark's "alone" column).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from mp_async import MParticle, RetryPolicy
from mp_async.api.profiles import ProfileFound


async def main(mpids: list[int], start: float, concurrency: int, rate_limit: float | None) -> None:
    options: dict[str, object] = {}
    if rate_limit is not None:
        options["rate_limit"] = rate_limit
    mp = MParticle.from_env(retry=RetryPolicy(max_attempts=20), **options)
    found = failed = 0
    async with mp:
        await asyncio.sleep(max(0.0, start - time.time()))
        began = time.time()
        async for result in mp.profiles.get_many(mpids, concurrency=concurrency):
            if isinstance(result, ProfileFound):
                found += 1
            else:
                failed += 1
        finished = time.time()
        oauth = mp.oauth
        fetches = getattr(oauth, "fetch_count", 0)
        limiter = mp.session.rate_limiter
        fallback = bool(getattr(limiter, "using_fallback", False))
    print(
        json.dumps(
            {
                "found": found,
                "failed": failed,
                "token_fetches": fetches,
                "began": began,
                "finished": finished,
                "fallback_at_end": fallback,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    path, start_at, concurrency = sys.argv[1:4]
    limit = float(sys.argv[4]) if len(sys.argv) > 4 else None
    numbers = [int(line) for line in Path(path).read_text().split()]
    asyncio.run(main(numbers, float(start_at), int(concurrency), limit))

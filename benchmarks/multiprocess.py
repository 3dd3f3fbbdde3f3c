"""Many workers, one account: P processes looking up profiles against a server at R requests/s.

The emulator, in this process, enforces a token bucket of R requests/s (burst R/5,
``Retry-After`` on 429) on the Profile API. P worker processes (``tests/programs/
redis_worker.py``, configured from the environment as a deployment would be) start together
and share N lookups, each with ``get_many`` at concurrency 32:

- ``budget``: sharing a Redis, told the account's budget (``rate_limit=R``);
- ``learned``: sharing a Redis, learning the limit together;
- ``alone``: no Redis, each process learning the limit by itself.

For each it prints goodput / R (lookups found over the time from the common start to the last
finish), the share of requests answered 429, lookups lost and token requests. A Redis is
started on a free port (``redis-server`` must be installed) unless ``MP_ASYNC_REDIS_URL``
names one.

    python benchmarks/multiprocess.py                       # P = 1, 2, 4, 8; R = 50; 20 s each
    python benchmarks/multiprocess.py --rate 15 --seconds 30 --processes 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mp_async.emulator import Emulator
from mp_async.redis import connect

WORKER = Path(__file__).resolve().parents[1] / "tests" / "programs" / "redis_worker.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run(processes: int, rate: float, lookups: int, mode: str, redis_url: str) -> str:
    async with Emulator(profiles=lookups) as emulator:
        emulator.faults.throttle_rate = rate
        env = {
            **os.environ,
            "MPARTICLE_BASE_URL": emulator.url,
            "MPARTICLE_CLIENT_ID": emulator.state.client_id,
            "MPARTICLE_CLIENT_SECRET": emulator.state.client_secret,
            "MPARTICLE_ORG_ID": str(emulator.workspace.org_id),
            "MPARTICLE_ACCOUNT_ID": str(emulator.workspace.account_id),
            "MPARTICLE_WORKSPACE_ID": str(emulator.workspace.workspace_id),
        }
        if mode != "alone":
            env["MPARTICLE_REDIS_URL"] = redis_url
            client = connect(redis_url)
            await client.flushdb()
            await client.aclose()
        start = time.time() + 2.0 + 0.3 * processes  # every worker imported and waiting
        workers = []
        with tempfile.TemporaryDirectory() as tmp:
            for n in range(processes):
                share = Path(tmp) / f"mpids-{n}"
                share.write_text("\n".join(map(str, emulator.seeded_mpids[n::processes])))
                args = [str(WORKER), str(share), str(start), "32"]
                if mode == "budget":
                    args.append(str(rate))
                workers.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable, *args, env=env, stdout=asyncio.subprocess.PIPE
                    )
                )
            reports = [json.loads((await worker.communicate())[0]) for worker in workers]
        found = sum(r["found"] for r in reports)
        failed = sum(r["failed"] for r in reports)
        elapsed = max(r["finished"] for r in reports) - start
        throttled = emulator.state.statuses[429]
        share_429 = throttled / max(1, throttled + emulator.state.statuses[200])
        return (
            f"| {processes} | {mode} | {found / elapsed / rate:.2f} | {100 * share_429:.1f} % "
            f"| {failed} | {emulator.state.token_requests} |"
        )


async def bench(options: argparse.Namespace, url: str) -> None:
    lookups = int(options.rate * options.seconds)
    print(f"R = {options.rate:g}/s (burst R/5), {lookups} lookups, concurrency 32 a process")
    print("| P | mode | goodput / R | 429 share | lost | token requests |")
    print("|---|---|---|---|---|---|")
    for processes in options.processes:
        for mode in options.modes:
            print(await run(processes, options.rate, lookups, mode, url), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0, help="lookups: this long at R")
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 2, 4, 8])
    parser.add_argument("--modes", nargs="*", default=["budget", "learned", "alone"])
    options = parser.parse_args()
    url = os.environ.get("MP_ASYNC_REDIS_URL")
    server = None
    if not url:
        port = _free_port()
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.5)
    try:
        asyncio.run(bench(options, url))
    finally:
        if server is not None:
            server.kill()


if __name__ == "__main__":
    main()

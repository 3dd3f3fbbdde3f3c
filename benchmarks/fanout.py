"""Profile fan-out: ``get_many`` against hand-written raw aiohttp, same server, same run.

The emulator runs in its own process (so the client's CPU cost is what differs between the
two), seeded with N profiles. Each round looks all N up with concurrency C, once through
``mp.profiles.get_many`` (typed models, retries, auth) and once through raw aiohttp (one
session, a bearer token fetched once, ``json.loads`` on each body), alternating which goes
first. It prints requests/s and client CPU per request for each, and the ratios.

    python benchmarks/fanout.py --count 5000 --concurrency 64 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp

from mp_async import Hosts, MParticle, Workspace
from mp_async.auth import OAuthClientCredentials
from mp_async.emulator import EmulatorState

FIELDS = "device_identities,user_identities,user_attributes,audience_memberships,attribution"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, count: int, seed: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mp_async",
            "emulator",
            "--port",
            str(port),
            "--profiles",
            str(count),
            "--seed",
            str(seed),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the emulator did not start")


async def via_library(base: str, mpids: list[int], concurrency: int) -> int:
    state = EmulatorState()
    async with MParticle(
        oauth=OAuthClientCredentials(state.client_id, state.client_secret),
        workspace=Workspace(state.org_id, state.account_id, state.workspace_id),
        hosts=Hosts.local(base),
        max_connections=concurrency,
    ) as mp:
        ok = 0
        async for result in mp.profiles.get_many(mpids, concurrency=concurrency):
            ok += result.ok
        return ok


async def via_raw_aiohttp(base: str, mpids: list[int], concurrency: int) -> int:
    state = EmulatorState()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(
            f"{base}/oauth/token",
            json={
                "client_id": state.client_id,
                "client_secret": state.client_secret,
                "audience": "https://api.mparticle.com",
                "grant_type": "client_credentials",
            },
        ) as reply:
            token = (await reply.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        prefix = f"{base}/userprofile/v1/{state.org_id}/{state.account_id}/{state.workspace_id}/"
        source = iter(mpids)
        ok = 0

        async def worker() -> None:
            nonlocal ok
            for mpid in source:
                async with session.get(
                    f"{prefix}{mpid}", params={"fields": FIELDS}, headers=headers
                ) as response:
                    document = json.loads(await response.read())
                    ok += response.status == 200 and document["mpid"] == mpid

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return ok


Runner = Callable[[str, list[int], int], Awaitable[int]]


async def measure(
    runner: Runner, base: str, mpids: list[int], concurrency: int
) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    ok = await runner(base, mpids, concurrency)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if ok != len(mpids):
        raise SystemExit(f"{runner.__name__}: only {ok} of {len(mpids)} lookups succeeded")
    return len(mpids) / wall, cpu / len(mpids) * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    port = free_port()
    server = start_server(port, args.count, args.seed)
    try:
        base = f"http://127.0.0.1:{port}"
        mpids = EmulatorState().seed_profiles(args.count, seed=args.seed)
        peers: dict[str, Runner] = {
            "mp_async get_many": via_library,
            "raw aiohttp": via_raw_aiohttp,
        }
        # warm-up: connections, imports, the server's caches
        for runner in peers.values():
            await measure(runner, base, mpids[:500], args.concurrency)
        rates: dict[str, list[float]] = {name: [] for name in peers}
        cpus: dict[str, list[float]] = {name: [] for name in peers}
        order = list(peers)
        for _ in range(args.rounds):
            for name in order:
                rate, cpu = await measure(peers[name], base, mpids, args.concurrency)
                rates[name].append(rate)
                cpus[name].append(cpu)
            order.reverse()
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(
        f"{args.count} lookups x {args.rounds} rounds, concurrency {args.concurrency}, "
        f"Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, "
        f"{os.cpu_count()} CPUs; server in its own process"
    )
    print(f"{'peer':<20} {'median req/s':>13} {'client CPU µs/req':>18}")
    for name in peers:
        print(
            f"{name:<20} {statistics.median(rates[name]):>13,.0f} "
            f"{statistics.median(cpus[name]):>18.1f}"
        )
    lib, raw = "mp_async get_many", "raw aiohttp"
    print(
        f"throughput ratio (mp_async / raw aiohttp): "
        f"{statistics.median(rates[lib]) / statistics.median(rates[raw]):.2f}"
    )
    print(
        f"CPU per request ratio (mp_async / raw aiohttp): "
        f"{statistics.median(cpus[lib]) / statistics.median(cpus[raw]):.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())

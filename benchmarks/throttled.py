"""Goodput at the server's limit: lookups/s that succeed against a server throttling at R/s.

A small server in its own process enforces a token bucket of R requests/s (burst R/5) on the
Profile API's GET and answers 429 with ``Retry-After: 1`` above it, optionally after an added
latency. In the same run, N lookups go through:

- ``mp_async``: ``mp.profiles.get_many`` with the adaptive rate control (the default);
- ``naive``: raw aiohttp that sleeps ``Retry-After`` and retries each 429 (the usual client);
- ``paced``: raw aiohttp paced exactly at R (the physical limit, knowing R).

For each it prints goodput / R, the share of requests answered 429, 429s per success, p50/p99
latency per lookup and lookups lost. The server sends ``X-mp-rate-limit-percentage-used`` on
successes as mParticle documents (``--no-warning``: 429s only). Every cell of a peer runs at
once, each in its own processes (the rates are far below what the machine can do).
``--step`` runs mp_async alone while the server's R halves and later doubles, printing the
learned rate over time.

    python benchmarks/throttled.py                    # R = 15, 50, 200; 0 and 20 ms; c = 32, 64
    python benchmarks/throttled.py --no-warning       # the same, the server warning nothing
    python benchmarks/throttled.py --quick            # R = 50, 0 ms, c = 32
    python benchmarks/throttled.py --step --rate 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import socket
import statistics
import subprocess
import sys
import time
from collections import deque
from typing import Any

import aiohttp
from aiohttp import web

from mp_async import Hosts, MParticle, MParticleError, Workspace
from mp_async.auth import OAuthClientCredentials

WORKSPACE = Workspace(1, 2, 3)
PROFILE = "/userprofile/v1/1/2/3/{mpid}"


# --- the server ---------------------------------------------------------------------------


def serve(port: int, rate: float, latency: float, warn: bool) -> None:
    """A token bucket of ``rate`` requests/s (burst rate/5) in front of a profile lookup; with
    ``warn``, successes carry ``X-mp-rate-limit-percentage-used`` (the share of the limit the
    last second used) as mParticle's do."""
    bucket = {"rate": rate, "tokens": max(1.0, rate / 5), "at": time.monotonic()}
    stats = {"ok": 0, "throttled": 0}
    admitted: deque[float] = deque()

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "t", "expires_in": 28800})

    async def lookup(request: web.Request) -> web.Response:
        now = time.monotonic()
        burst = max(1.0, bucket["rate"] / 5)
        bucket["tokens"] = min(burst, bucket["tokens"] + (now - bucket["at"]) * bucket["rate"])
        bucket["at"] = now
        if bucket["tokens"] < 1.0:
            stats["throttled"] += 1
            return web.json_response({"errors": []}, status=429, headers={"Retry-After": "1"})
        bucket["tokens"] -= 1.0
        stats["ok"] += 1
        headers = {}
        if warn:
            admitted.append(now)
            while admitted[0] <= now - 1.0:
                admitted.popleft()
            used = round(100 * len(admitted) / bucket["rate"])
            headers["X-mp-rate-limit-percentage-used"] = str(used)
        if latency:
            await asyncio.sleep(latency)
        return web.json_response({"mpid": int(request.match_info["mpid"])}, headers=headers)

    async def control(request: web.Request) -> web.Response:
        if "rate" in request.query:
            bucket["rate"] = float(request.query["rate"])
        if "reset" in request.query:
            stats.update(ok=0, throttled=0)
        return web.json_response(stats)

    app = web.Application()
    app.router.add_post("/oauth/token", token)
    app.router.add_get(PROFILE, lookup)
    app.router.add_post("/control", control)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(rate: float, latency: float, warn: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), str(rate), str(latency), str(int(warn))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("the throttling server did not start")


async def control(base: str, **query: Any) -> dict[str, int]:
    async with aiohttp.ClientSession() as http, http.post(f"{base}/control", params=query) as r:
        return dict(await r.json())


# --- the clients ----------------------------------------------------------------------------


async def via_mp_async(base: str, mpids: list[int], concurrency: int) -> list[float | None]:
    """Latency of each lookup (None if it failed), through ``mp.profiles.get`` on
    ``concurrency`` workers: ``get_many``'s own shape, with each lookup timed."""
    latencies: list[float | None] = []
    queue = iter(mpids)
    async with MParticle(
        oauth=OAuthClientCredentials("id", "secret"),
        workspace=WORKSPACE,
        hosts=Hosts.local(base),
        max_connections=concurrency,
    ) as mp:

        async def worker() -> None:
            for mpid in queue:
                t = time.monotonic()
                try:
                    await mp.profiles.get(mpid, fields="user_attributes")
                except MParticleError:
                    latencies.append(None)
                else:
                    latencies.append(time.monotonic() - t)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def via_naive(base: str, mpids: list[int], concurrency: int) -> list[float | None]:
    latencies: list[float | None] = []
    queue = iter(mpids)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def worker() -> None:
            for mpid in queue:
                t = time.monotonic()
                for _ in range(100):
                    async with http.get(base + PROFILE.format(mpid=mpid)) as r:
                        await r.read()
                        if r.status == 200:
                            latencies.append(time.monotonic() - t)
                            break
                        await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                else:
                    latencies.append(None)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def via_paced(
    base: str, mpids: list[int], concurrency: int, rate: float
) -> list[float | None]:
    latencies: list[float | None] = []
    queue = iter(mpids)
    next_slot = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def worker() -> None:
            nonlocal next_slot
            for mpid in queue:
                t = time.monotonic()
                ok = False
                while not ok:
                    slot = max(next_slot, time.monotonic())
                    next_slot = slot + 1.0 / rate
                    await asyncio.sleep(max(0.0, slot - time.monotonic()))
                    async with http.get(base + PROFILE.format(mpid=mpid)) as r:
                        await r.read()
                        ok = r.status == 200
                latencies.append(time.monotonic() - t)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


# --- running --------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


PEERS = ("mp_async", "naive", "paced")


async def run_peer(
    peer: str, rate: float, latency_ms: float, concurrency: int, seconds: float, warn: bool
) -> dict[str, Any]:
    """One peer against its own server: N = R * seconds lookups; what came of them."""
    count = max(60, int(rate * seconds))
    mpids = list(range(1, count + 1))
    server, base = start(rate, latency_ms / 1000, warn)
    try:
        await asyncio.sleep(1.2)  # let the bucket fill as it would on a quiet server
        await control(base, reset=1)
        t0 = time.monotonic()
        if peer == "mp_async":
            latencies = await via_mp_async(base, mpids, concurrency)
        elif peer == "naive":
            latencies = await via_naive(base, mpids, concurrency)
        else:
            latencies = await via_paced(base, mpids, concurrency, rate)
        elapsed = time.monotonic() - t0
        stats = await control(base)
    finally:
        server.terminate()
        server.wait()
    ok = [x for x in latencies if x is not None]
    return {
        "goodput": len(ok) / elapsed / rate,
        "share_429": stats["throttled"] / max(1, stats["ok"] + stats["throttled"]),
        "per_success": stats["throttled"] / max(1, stats["ok"]),
        "p50": statistics.median(ok) * 1000 if ok else math.nan,
        "p99": percentile(ok, 0.99) * 1000 if ok else math.nan,
        "lost": count - len(ok),
        "n": count,
    }


def grid(args: argparse.Namespace) -> None:
    """Every cell of one peer at once (each in its own client and server processes: at these
    rates the machine is idle), one peer after the other."""
    cells = [
        (rate, latency, concurrency)
        for rate in args.rate
        for latency in args.latency_ms
        for concurrency in args.concurrency
    ]
    results: dict[tuple[float, float, int, str], dict[str, Any]] = {}
    for peer in args.peers or PEERS:
        runs = [
            (
                key,
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--one",
                        peer,
                        *map(str, key),
                        str(args.seconds),
                        str(int(not args.no_warning)),
                    ],
                    stdout=subprocess.PIPE,
                ),
            )
            for key in cells
        ]
        for key, process in runs:
            out, _ = process.communicate()
            results[(*key, peer)] = json.loads(out.decode().strip().splitlines()[-1])
    header = "with" if not args.no_warning else "without"
    print(f"server {header} X-mp-rate-limit-percentage-used; {args.seconds:g} s at R per run")
    for rate, latency, concurrency in cells:
        n = results[(rate, latency, concurrency, (args.peers or PEERS)[0])]["n"]
        print(
            f"\nR = {rate:g}/s, server latency {latency:g} ms, concurrency {concurrency}, N = {n}"
        )
        print(
            f"  {'peer':<9} {'goodput/R':>9} {'429 share':>9} {'429/success':>11} "
            f"{'p50 ms':>7} {'p99 ms':>7} {'lost':>5}"
        )
        for peer in args.peers or PEERS:
            r = results[(rate, latency, concurrency, peer)]
            print(
                f"  {peer:<9} {r['goodput']:>9.2f} {r['share_429']:>9.1%} "
                f"{r['per_success']:>11.3f} {r['p50']:>7.0f} {r['p99']:>7.0f} {r['lost']:>5}"
            )


async def step(rate: float, seconds: float, warn: bool) -> None:
    server, base = start(rate, 0.0, warn)
    samples: list[tuple[float, float | None, float]] = []
    try:
        await asyncio.sleep(1.2)
        async with MParticle(
            oauth=OAuthClientCredentials("id", "secret"),
            workspace=WORKSPACE,
            hosts=Hosts.local(base),
        ) as mp:
            limiter = mp.session.rate_limiter
            t0 = time.monotonic()
            server_rate = rate

            async def sample() -> None:
                nonlocal server_rate
                while True:
                    await asyncio.sleep(0.5)
                    t = time.monotonic() - t0
                    wanted = rate / 2 if seconds / 3 < t <= 2 * seconds / 3 else rate
                    if wanted != server_rate:
                        server_rate = wanted
                        await control(base, rate=str(server_rate))
                    samples.append((t, limiter.rate("profile"), server_rate))

            sampler = asyncio.ensure_future(sample())
            count = int(rate * seconds)
            lost = 0
            async for result in mp.profiles.get_many(range(1, count + 1), concurrency=32):
                lost += not result.ok
                if time.monotonic() - t0 > seconds:
                    break
            sampler.cancel()
    finally:
        server.terminate()
        server.wait()
    print(
        f"\nstep change: the server's R = {rate:g}, halved at {seconds / 3:.0f} s, back at {2 * seconds / 3:.0f} s"
    )
    print("  time s   server R   learned rate")
    for t, learned, server_rate in samples[::2]:
        print(
            f"  {t:>6.1f}   {server_rate:>8.1f}   {learned if learned is None else round(learned, 1)}"
        )
    print(f"  lookups lost: {lost}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--one", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--step", action="store_true")
    parser.add_argument("--rate", type=float, nargs="+", default=[15, 50, 200])
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0, 20])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each run at R")
    parser.add_argument("--peers", nargs="+", choices=PEERS)
    parser.add_argument(
        "--no-warning",
        action="store_true",
        help="the server sends no X-mp-rate-limit-percentage-used (429s are all there is)",
    )
    args = parser.parse_args()
    if args.serve:
        port, rate, latency, warn = args.serve
        serve(int(port), float(rate), float(latency), warn == "1")
        return
    if args.one:
        peer, rate, latency, concurrency, seconds, warn = args.one
        result = asyncio.run(
            run_peer(
                peer, float(rate), float(latency), int(concurrency), float(seconds), warn == "1"
            )
        )
        print(json.dumps(result))
        return
    print(f"Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}")
    if args.step:
        asyncio.run(step(args.rate[0], max(args.seconds, 30.0), not args.no_warning))
        return
    if args.quick:
        args.rate, args.latency_ms, args.concurrency = [50], [0], [32]
    grid(args)


if __name__ == "__main__":
    main()

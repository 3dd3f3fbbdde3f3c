"""Upload N event batches to one local server: mp_async vs the official SDK vs raw aiohttp.

    python benchmarks/events.py                      # N=20,000 at 0 ms and 50 ms, 3 rounds
    python benchmarks/events.py --n 5000 --latency-ms 50 --rounds 5
    python benchmarks/events.py --server emulator    # the emulator instead of the bare server

Peers, each run in turn and in a rotated order every round (so drift hits all of them):

- ``mp_async uploader``: ``await up.add(batch)`` one ``Batch`` model at a time, through
  ``mp.events.uploader()`` (defaults: 100 a request, 8 requests in flight); and the same fed
  plain dicts (``uploader/dicts``), and ``mp.events.upload_many(batches)`` (``upload_many``).
- ``official``: the ``mparticle`` package as its README shows: ``EventsApi(configuration)``,
  ``bulk_upload_events(batches)`` with 100 ``mparticle.Batch`` objects a call, one call after
  another (its client is synchronous, urllib3, one pooled connection).
- ``raw aiohttp``: hand-written: plain dicts, ``orjson.dumps`` of 100 at a time, one
  ``ClientSession``, 8 POSTs in flight, Basic auth header computed once; no validation, no ids.

Inputs are built before the clock starts; each timed run includes making its client. The
server runs in a child process, so the client's CPU cost is not mixed with the server's on
the same core. By default it is a bare ``aiohttp.web`` app (checks the auth header, parses
the body to count the batches, sleeps the added latency, answers 202): the emulator also
validates every batch, re-serialises it to measure it, and keeps it, per request, which at
0 ms makes the server the bottleneck for every peer alike and hides the clients' cost.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

API_KEY, API_SECRET = "emulator-api-key", "emulator-api-secret"
CONCURRENCY = 8
CHUNK = 100


# --- the server (a child process) ---------------------------------------------------------


def serve(latency: float, use_emulator: bool) -> None:
    """Serve on a free loopback port; print the base URL, then run until stdin closes."""
    from aiohttp import web

    async def main() -> None:
        if use_emulator:
            from mp_async.emulator import Emulator, Faults

            emulator = Emulator(faults=Faults(latency=latency))
            await emulator.start()
            url = emulator.url

            async def count(request: web.Request) -> web.Response:
                return web.json_response({"batches": len(emulator.state.event_batches)})

            # A second tiny app for the count, so the emulator's routes stay its own.
            counter = web.Application()
            counter.router.add_get("/count", count)
            runner = web.AppRunner(counter, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            print(url, site.name, flush=True)
        else:
            import orjson

            expected = "Basic " + base64.b64encode(f"{API_KEY}:{API_SECRET}".encode()).decode()
            total = 0

            async def bulk(request: web.Request) -> web.Response:
                nonlocal total
                if request.headers.get("Authorization") != expected:
                    return web.Response(status=401)
                batches = orjson.loads(await request.read())
                if latency:
                    await asyncio.sleep(latency)
                total += len(batches)
                return web.Response(status=202)

            async def count(request: web.Request) -> web.Response:
                return web.json_response({"batches": total})

            app = web.Application()
            app.router.add_post("/events/v2/bulkevents", bulk)
            app.router.add_get("/count", count)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            print(site.name, site.name, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


class Server:
    """The server child process, at one latency."""

    def __init__(self, latency: float, use_emulator: bool) -> None:
        args = [sys.executable, __file__, "--serve", "--latency-ms", str(latency * 1000)]
        if use_emulator:
            args += ["--server", "emulator"]
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url, self.count_url = self.process.stdout.readline().split()

    async def count(self) -> int:
        import aiohttp

        async with aiohttp.ClientSession() as session, session.get(f"{self.count_url}/count") as r:
            return int((await r.json())["batches"])

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


# --- the inputs ---------------------------------------------------------------------------


def batch_dicts(n: int) -> list[dict[str, Any]]:
    """N batches as the Events API's JSON: identities, attributes, one custom event."""
    now = int(time.time() * 1000)
    return [
        {
            "environment": "production",
            "user_identities": {"customer_id": f"cust-{i}", "email": f"user{i}@example.com"},
            "user_attributes": {"plan": "pro", "lifetime_value": i % 500, "country": "US"},
            "events": [
                {
                    "event_type": "custom_event",
                    "data": {
                        "event_name": "purchase",
                        "custom_event_type": "transaction",
                        "custom_attributes": {"sku": f"sku-{i % 97}", "price": "9.99"},
                        "timestamp_unixtime_ms": now + i,
                    },
                }
            ],
        }
        for i in range(n)
    ]


def batch_models(dicts: list[dict[str, Any]]) -> list[Any]:
    """The same batches as mp_async ``Batch`` models."""
    from mp_async.api.events import Batch, CustomEvent

    models = []
    for d in dicts:
        data = d["events"][0]["data"]
        event = CustomEvent(
            data["event_name"],
            data["custom_event_type"],
            data["custom_attributes"],
            timestamp_unixtime_ms=data["timestamp_unixtime_ms"],
        )
        models.append(
            Batch(
                d["environment"],
                user_identities=d["user_identities"],
                user_attributes=d["user_attributes"],
                events=[event],
            )
        )
    return models


def official_batches(dicts: list[dict[str, Any]]) -> list[Any]:
    """The same batches as the ``mparticle`` package's models, built as its README shows."""
    import mparticle

    batches = []
    for d in dicts:
        batch = mparticle.Batch()
        batch.environment = d["environment"]
        identities = mparticle.UserIdentities()
        identities.customerid = d["user_identities"]["customer_id"]
        identities.email = d["user_identities"]["email"]
        batch.user_identities = identities
        batch.user_attributes = d["user_attributes"]
        data = d["events"][0]["data"]
        event = mparticle.AppEvent(
            event_name=data["event_name"], custom_event_type=data["custom_event_type"]
        )
        event.custom_attributes = data["custom_attributes"]
        event.timestamp_unixtime_ms = data["timestamp_unixtime_ms"]
        batch.events = [event]
        batches.append(batch)
    return batches


# --- the peers ----------------------------------------------------------------------------


def mp_client(url: str) -> Any:
    from mp_async import Hosts, MParticle
    from mp_async.auth import BasicAuth

    return MParticle(events_auth=BasicAuth(API_KEY, API_SECRET), hosts=Hosts.local(url))


async def run_uploader(url: str, batches: list[Any]) -> None:
    async with mp_client(url) as mp, mp.events.uploader() as up:
        for batch in batches:
            await up.add(batch)
    if up.failed:
        raise RuntimeError(f"mp_async: {len(up.failed)} batches failed: {up.failed[0].error}")


async def run_spooled(url: str, batches: list[Any], durability: str = "process") -> None:
    """The uploader with a spool file (``"process"``: every ``add`` returns once its batch is
    committed; ``"interval"``: commits every 10 ms, nothing sent before it is committed)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        spool = f"{folder}/spool.db"
        uploader = mp_client(url)
        async with uploader as mp, mp.events.uploader(spool=spool, durability=durability) as up:
            for batch in batches:
                await up.add(batch)
    if up.failed:
        raise RuntimeError(f"mp_async: {len(up.failed)} batches failed: {up.failed[0].error}")


async def run_upload_many(url: str, batches: list[Any]) -> None:
    async with mp_client(url) as mp:
        result = await mp.events.upload_many(batches)
    if result.failed:
        raise RuntimeError(f"mp_async: {len(result.failed)} failed: {result.failed[0].error}")


async def run_raw(url: str, batches: list[dict[str, Any]]) -> None:
    import aiohttp
    import orjson

    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{API_KEY}:{API_SECRET}".encode()).decode(),
        "Content-Type": "application/json",
    }
    endpoint = f"{url}/events/v2/bulkevents"
    limit = asyncio.Semaphore(CONCURRENCY)

    async def post(session: aiohttp.ClientSession, chunk: list[dict[str, Any]]) -> None:
        async with limit, session.post(endpoint, data=orjson.dumps(chunk), headers=headers) as r:
            await r.read()
            if r.status != 202:
                raise RuntimeError(f"raw aiohttp: {r.status}")

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(
            *(post(session, batches[i : i + CHUNK]) for i in range(0, len(batches), CHUNK))
        )


def run_official(url: str, batches: list[Any]) -> None:
    import mparticle

    configuration = mparticle.Configuration()
    configuration.api_key = API_KEY
    configuration.api_secret = API_SECRET
    configuration.host = f"{url}/events/v2"
    api = mparticle.EventsApi(configuration)
    for i in range(0, len(batches), CHUNK):
        api.bulk_upload_events(batches[i : i + CHUNK])


# --- the measurement ----------------------------------------------------------------------


Peer = Callable[[str], "Coroutine[Any, Any, None] | None"]


def measure(server: Server, name: str, peer: Peer, n: int) -> tuple[float, float]:
    """Run ``peer`` once; return (batches/s, client CPU microseconds per batch)."""
    before = asyncio.run(server.count())
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = peer(server.url)
    if outcome is not None:
        asyncio.run(outcome)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    received = asyncio.run(server.count()) - before
    if received != n:
        raise RuntimeError(f"{name}: the server received {received} batches, not {n}")
    return n / wall, cpu / n * 1e6


def bench(latency_ms: float, n: int, official_n: int, rounds: int, use_emulator: bool) -> None:
    dicts = batch_dicts(n)
    models = batch_models(dicts)
    official = official_batches(dicts[:official_n])
    peers: dict[str, tuple[Peer, int]] = {
        "mp_async uploader": (lambda url: run_uploader(url, models), n),
        "uploader/dicts": (lambda url: run_uploader(url, dicts), n),
        "uploader+spool": (lambda url: run_spooled(url, models), n),
        "spool, interval": (lambda url: run_spooled(url, models, "interval"), n),
        "upload_many": (lambda url: run_upload_many(url, models), n),
        "raw aiohttp": (lambda url: run_raw(url, dicts), n),
        "official": (lambda url: run_official(url, official), official_n),
    }
    server = Server(latency_ms / 1000, use_emulator)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in peers}
    try:
        names = list(peers)
        for round_ in range(rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                peer, count = peers[name]
                results[name].append(measure(server, name, peer, count))
    finally:
        server.stop()

    rate = {name: statistics.median(r[0] for r in runs) for name, runs in results.items()}
    cpu = {name: statistics.median(r[1] for r in runs) for name, runs in results.items()}
    where = "emulator" if use_emulator else "bare aiohttp.web server"
    print(
        f"\n{latency_ms:g} ms added latency, {where}; N={n} (official N={official_n}), "
        f"median of {rounds} rounds"
    )
    print(
        f"  {'peer':<20}{'batches/s':>12}{'client CPU us/batch':>22}{'vs raw':>9}{'vs official':>13}"
    )
    for name in peers:
        print(
            f"  {name:<20}{rate[name]:>12,.0f}{cpu[name]:>22.1f}"
            f"{rate[name] / rate['raw aiohttp']:>9.2f}{rate[name] / rate['official']:>13.2f}"
        )
    for name in ("uploader+spool", "spool, interval"):
        print(f"  {name} / in-memory uploader: {rate[name] / rate['mp_async uploader']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="batches per run")
    parser.add_argument(
        "--official-n",
        type=int,
        default=None,
        help="batches per run for the official package (default: N)",
    )
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 50.0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", choices=["bare", "emulator"], default="bare")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.latency_ms[0] / 1000, args.server == "emulator")
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for latency in args.latency_ms:
        bench(latency, args.n, args.official_n or args.n, args.rounds, args.server == "emulator")


if __name__ == "__main__":
    main()

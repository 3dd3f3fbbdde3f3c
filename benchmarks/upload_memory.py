"""Peak memory of ``upload_many`` fed a generator: 10,000 batches against 1,000,000.

Each size runs in a fresh process against a small server (its own process) that answers 202
and keeps nothing; the process's peak RSS (``ru_maxrss``) is printed for both. A streamed
upload holds only the chunks in flight, so the two should be within a few MB of each other.

    python benchmarks/upload_memory.py                   # 10,000 and 1,000,000
    python benchmarks/upload_memory.py --counts 10000 100000
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from aiohttp import web


def serve(port: int) -> None:
    async def bulk(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=202)

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/v2/bulkevents", bulk)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def batches(count: int) -> Iterator[dict[str, Any]]:
    for i in range(count):
        yield {
            "environment": "production",
            "mpid": i + 1,
            "events": [
                {
                    "event_type": "custom_event",
                    "data": {"event_name": "viewed", "custom_event_type": "navigation"},
                }
            ],
            "user_attributes": {"plan": "pro", "n": i},
        }


async def upload(base: str, count: int) -> tuple[int, float]:
    from mp_async import Hosts, MParticle
    from mp_async.auth import BasicAuth

    hosts = Hosts(api=base, sso=base, identity=base, events=base)
    async with MParticle(events_auth=BasicAuth("key", "secret"), hosts=hosts) as mp:
        t0 = time.perf_counter()
        result = await mp.events.upload_many(batches(count), concurrency=8)
        return result.sent, time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 1_000_000])
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.one:
        base, count = args.one
        sent, seconds = asyncio.run(upload(base, int(count)))
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        print(
            f"{int(count):>10,} batches: sent {sent:,} in {seconds:.1f} s, peak RSS {peak_mib:.1f} MiB"
        )
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.05)
        print(f"Python {sys.version.split()[0]}; upload_many(generator), concurrency 8")
        for count in args.counts:
            subprocess.run(
                [sys.executable, __file__, "--one", f"http://127.0.0.1:{port}", str(count)],
                check=True,
            )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()

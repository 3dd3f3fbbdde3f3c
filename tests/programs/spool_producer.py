"""A worker for the spool's kill test: it takes messages 0..N-1 from its "queue" (skipping those
it acknowledged before), adds each as a batch to a spooled uploader and acknowledges it (a line
in the ack file) once ``add`` returned, which with a spool means the batch is on disk.

    python spool_producer.py URL SPOOL ACKS N
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from mp_async import Hosts, MParticle
from mp_async.auth import BasicAuth


async def main(url: str, spool: str, acks: Path, count: int, done: set[int]) -> None:
    async with MParticle(
        events_auth=BasicAuth("emulator-api-key", "emulator-api-secret"), hosts=Hosts.local(url)
    ) as mp:
        async with mp.events.uploader(spool=spool, max_batch=20, flush_interval=0.02) as up:
            print("ready", flush=True)
            with acks.open("a") as ack:
                for n in range(count):
                    if n in done:
                        continue
                    await up.add({"environment": "production", "mpid": n + 1})
                    ack.write(f"{n}\n")
                    ack.flush()  # the OS has it: it survives this process being killed
    print("finished", flush=True)


if __name__ == "__main__":
    url, spool, ack_file, count = sys.argv[1:]
    acks = Path(ack_file)
    done = set(map(int, acks.read_text().split())) if acks.exists() else set()
    asyncio.run(main(url, spool, acks, int(count), done))

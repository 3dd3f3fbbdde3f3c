"""Cold start: ``import mp_async`` against ``import aiohttp``, each in a fresh interpreter.

Runs alternate between the two (so a busy machine slows both alike); prints the minimum and
the median of each, and their ratios. A program that uses one API imports that API's module
only when it first uses it, so ``import mp_async`` is the Session, the errors and the hosts on
top of aiohttp.

    python benchmarks/coldstart.py            # 21 runs each
    python benchmarks/coldstart.py --runs 51
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys


def once(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    peers = {"aiohttp": "import aiohttp", "mp_async": "import mp_async"}
    times: dict[str, list[float]] = {name: [] for name in peers}
    for _ in range(args.runs):
        for name, statement in peers.items():
            times[name].append(once(statement))
    print(f"Python {sys.version.split()[0]}, {args.runs} runs each")
    for name, values in times.items():
        print(
            f"  import {name:<9} min {min(values):6.1f} ms   median {statistics.median(values):6.1f} ms"
        )
    a, b = times["aiohttp"], times["mp_async"]
    print(
        f"  mp_async / aiohttp: {min(b) / min(a):.2f} (min), "
        f"{statistics.median(b) / statistics.median(a):.2f} (median)"
    )


if __name__ == "__main__":
    main()

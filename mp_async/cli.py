"""The ``mp-async`` command line: ``demo`` (the quick start) and ``emulator``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import Sequence

from . import MParticle
from .api.profiles import Profile
from .auth import BasicAuth, HmacDigestAuth, OAuthClientCredentials
from .emulator import Emulator, Faults
from .errors import MParticleError

__all__ = ["main"]


async def run_demo(count: int, concurrency: int, failure_rate: float, seed: int) -> int:
    """Start an emulator, look ``count`` profiles up through ``get_many``, print a summary."""
    faults = Faults(seed=seed, error_rate_503=failure_rate)
    async with Emulator(profiles=count, seed=seed, faults=faults) as emu:
        state = emu.state
        mpids = [*emu.seeded_mpids, *range(1, 11)]  # ten MPIDs nobody has
        print(f"emulator listening on {emu.url} with {count} seeded profiles")
        print(
            f"looking up {len(mpids)} MPIDs, {concurrency} at a time; the emulator fails "
            f"{failure_rate:.0%} of requests with 503 and the client retries them"
        )
        outcomes: Counter[str] = Counter()
        countries: Counter[str] = Counter()
        sample: list[Profile] = []
        started = time.perf_counter()
        async with MParticle(
            oauth=OAuthClientCredentials(state.client_id, state.client_secret),
            identity_auth=HmacDigestAuth(state.api_key, state.api_secret),
            events_auth=BasicAuth(state.api_key, state.api_secret),
            workspace=emu.workspace,
            hosts=emu.hosts,
        ) as mp:
            async for result in mp.profiles.get_many(mpids, concurrency=concurrency):
                if result.profile is not None:
                    outcomes["found"] += 1
                    countries[str(result.profile.user_attributes.get("$country"))] += 1
                    if len(sample) < 5:
                        sample.append(result.profile)
                else:
                    outcomes[type(result.error).__name__] += 1
        elapsed = time.perf_counter() - started

    print()
    print(f"{'MPID':>20}  {'name':<8} {'country':<7} {'customer_id':<14} audiences")
    for profile in sample:
        audiences = ", ".join(
            a.audience_name or str(a.audience_id) for a in profile.audience_memberships
        )
        print(
            f"{profile.mpid:>20}  {profile.user_attributes.get('$firstname', ''):<8} "
            f"{profile.user_attributes.get('$country', ''):<7} "
            f"{profile.identity('customer_id') or '':<14} {audiences}"
        )
    print()
    print(f"looked up   {len(mpids)} MPIDs in {elapsed:.2f} s ({len(mpids) / elapsed:,.0f}/s)")
    for outcome, n in sorted(outcomes.items()):
        print(f"  {outcome:<10} {n}")
    print(f"countries   {', '.join(f'{c} {n}' for c, n in countries.most_common())}")
    print(
        f"server saw  {sum(state.requests.values())} requests: "
        f"{state.statuses[503]} answered 503 and retried, "
        f"{state.token_requests} token request(s)"
    )
    missing = outcomes.get("NotFound", 0)
    return 0 if outcomes["found"] == count and missing == len(mpids) - count else 1


async def run_emulator(
    host: str, port: int, profiles: int, seed: int, throttle: float | None
) -> None:
    """Serve an emulator until interrupted."""
    faults = Faults(seed=seed, throttle_rate=throttle)
    async with Emulator(host=host, port=port, profiles=profiles, seed=seed, faults=faults) as emu:
        print(f"mParticle emulator on {emu.url} ({profiles} profiles); Ctrl-C to stop")
        print("point a client at it with these environment variables:")
        print(emu.describe())
        if emu.seeded_mpids:
            print(f"a seeded MPID to try: {emu.seeded_mpids[0]}")
        sys.stdout.flush()
        await asyncio.Event().wait()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mp-async", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="look profiles up against an in-process emulator")
    demo.add_argument("--count", type=int, default=2000, help="profiles to seed and look up")
    demo.add_argument("--concurrency", type=int, default=32)
    demo.add_argument("--failure-rate", type=float, default=0.05, help="share of 503 replies")
    demo.add_argument("--seed", type=int, default=7)
    emulator = commands.add_parser("emulator", help="run a local mParticle emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8080)
    emulator.add_argument("--profiles", type=int, default=1000, help="profiles to seed")
    emulator.add_argument("--seed", type=int, default=0)
    emulator.add_argument("--throttle", type=float, default=None, help="requests/s before 429")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 API error, 2 bad usage)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return asyncio.run(run_demo(args.count, args.concurrency, args.failure_rate, args.seed))
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_emulator(args.host, args.port, args.profiles, args.seed, args.throttle))
        return 0
    except MParticleError as exc:
        print(f"mp-async: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

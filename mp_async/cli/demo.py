"""``mp-async demo``: the main job, against the built-in emulator, in one command."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import click

from ..emulator import Emulator, Faults
from ..session import Session
from .bulk import BulkRun
from .profiles import lookup_profiles
from .progress import Counts, Display
from .runtime import print_table, progress_mode, run_async, stderr

__all__ = ["demo"]


@click.command("demo")
@click.option(
    "--count",
    type=click.IntRange(1),
    default=3000,
    show_default=True,
    help="Profiles to seed and look up.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=32,
    show_default=True,
    help="Lookups in flight at once.",
)
@click.option(
    "--failure-rate",
    type=click.FloatRange(0, 0.5),
    default=0.05,
    show_default=True,
    help="Share of requests the emulator fails with 503.",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    help="Show progress on stderr (a live bar on a terminal, else a line every 5 s).",
)
@run_async
async def demo(count: int, concurrency: int, failure_rate: float, progress: bool) -> int:
    """The quick start: look up seeded profiles in an in-process emulator that fails some requests."""
    from ..auth import OAuthClientCredentials
    from ..client import MParticle

    faults = Faults(seed=7, error_rate_503=failure_rate)
    async with Emulator(profiles=count, seed=7, faults=faults) as emu:
        state = emu.state
        mpids = [str(m) for m in [*emu.seeded_mpids, *range(1, 11)]]  # ten MPIDs nobody has
        stderr.print(
            f"emulator on {emu.url}: {count} profiles; it fails {failure_rate:.0%} of "
            f"requests with 503, and the client retries them",
            markup=False,
            soft_wrap=True,
        )
        started = time.perf_counter()
        display = Display("demo", Counts(total=len(mpids)), stderr, mode=progress_mode(progress))
        run = BulkRun(display, target=emu.url, give_up_after=60.0)
        records = _Collect()
        outcomes: Counter[str] = Counter()
        async with MParticle(
            oauth=OAuthClientCredentials(state.client_id, state.client_secret),
            workspace=emu.workspace,
            hosts=emu.hosts,
            session=Session(on_retry=run.on_retry),
        ) as mp:
            await run.run(
                lookup_profiles(
                    mp.profiles,
                    iter(mpids),
                    records,
                    run,
                    outcomes,
                    concurrency=concurrency,
                    fields=(),
                )
            )
        elapsed = time.perf_counter() - started
    if run.exit_code is not None:
        click.echo(
            "mp-async: interrupted" if run.interrupted else f"mp-async: {run.stopped}", err=True
        )
        return run.exit_code
    countries = Counter(
        str(r["profile"]["user_attributes"].get("$country"))
        for r in records.items
        if "profile" in r
    )
    print_table(
        ("", ""),
        [
            ("MPIDs looked up", len(mpids)),
            ("profiles found", outcomes["found"]),
            ("not found (as expected)", outcomes["NotFound"]),
            ("other errors", sum(outcomes.values()) - outcomes["found"] - outcomes["NotFound"]),
            ("seconds", f"{elapsed:.2f}"),
            ("lookups per second", f"{len(mpids) / elapsed:,.0f}"),
            ("requests the server saw", sum(state.requests.values())),
            ("503s it sent, retried by the client", state.statuses[503]),
            ("retries the client made", run.counts.retries),
            ("token requests (one, shared)", state.token_requests),
            ("countries", ", ".join(f"{c} {n}" for c, n in countries.most_common(4)) + ", …"),
        ],
        title="mp-async demo: profiles.get_many against the emulator",
    )
    sample = [r["profile"] for r in records.items if "profile" in r][:5]
    print_table(
        ("mpid", "name", "country", "customer_id", "audiences"),
        [
            (
                p["mpid"],
                p["user_attributes"].get("$firstname"),
                p["user_attributes"].get("$country"),
                next((i["value"] for i in p["user_identities"] if i["type"] == "customer_id"), ""),
                ", ".join(a["audience_name"] or "" for a in p["audience_memberships"]),
            )
            for p in sample
        ],
        title="a few of them",
    )
    return 0 if outcomes["found"] == count and outcomes["NotFound"] == 10 else 1


class _Collect:
    """A stand-in output file that keeps the JSON lines written to it."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def write(self, line: str) -> int:
        self.items.append(json.loads(line))
        return len(line)

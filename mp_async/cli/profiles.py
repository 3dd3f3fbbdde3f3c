"""``mp-async profile get|resolve`` and ``mp-async profiles lookup``."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any, Protocol

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from ..api.profiles import Profile, ProfileAPI, ProfileResult
from ..errors import Forbidden, MissingCredentials, NotFound, Unauthorized
from ..protocol import ENVIRONMENTS, PROFILE_FIELDS
from .runtime import (
    common_options,
    emit,
    error_json,
    is_tty,
    open_client,
    print_table,
    run_async,
    settings,
    stderr,
    to_json,
)

__all__ = ["lookup_profiles", "profile", "profiles"]

_fields_option = click.option(
    "--fields",
    multiple=True,
    type=click.Choice(PROFILE_FIELDS),
    help="A field to return (repeatable); all five by default.",
)


def show_profile(profile: Profile) -> None:
    """Print one profile as tables."""
    rows: list[tuple[str, object]] = [("mpid", profile.mpid)]
    rows += [(f"identity {i.type}", i.value) for i in profile.user_identities]
    rows += [(f"device {i.type}", i.value) for i in profile.device_identities]
    rows += [(f"attribute {k}", v) for k, v in sorted(profile.user_attributes.items())]
    rows += [
        ("audience", f"{a.audience_id} {a.audience_name or ''}".strip())
        for a in profile.audience_memberships
    ]
    rows += [("attribution", a.campaign or a.campaign_id) for a in profile.attribution]
    print_table(("field", "value"), rows)


@click.group()
def profile() -> None:
    """Look one profile up."""


@profile.command("get")
@click.argument("mpid")
@_fields_option
@common_options
@run_async
async def get_profile(mpid: str, fields: tuple[str, ...]) -> None:
    """Print the profile of MPID."""
    async with open_client(settings()) as (mp, _):
        found = await mp.profiles.get(mpid, fields=fields or None)
    emit(found, lambda: show_profile(found))


@profile.command("resolve")
@click.argument("identity_type")
@click.argument("value")
@click.option("--environment", type=click.Choice(ENVIRONMENTS), default="production")
@_fields_option
@common_options
@run_async
async def resolve_profile(
    identity_type: str, value: str, environment: str, fields: tuple[str, ...]
) -> None:
    """Print the profile of the user whose IDENTITY_TYPE is VALUE (e.g. customer_id 12345)."""
    async with open_client(settings()) as (mp, _):
        found = await mp.profiles.resolve(
            identity_type, value, environment=environment, fields=fields or None
        )
    emit(found, lambda: show_profile(found))


@click.group()
def profiles() -> None:
    """Work with many profiles."""


class LineWriter(Protocol):
    """Where ``lookup_profiles`` writes its JSON lines (a text file, or a collector)."""

    def write(self, line: str, /) -> int:
        """Write one line."""
        ...


def _mpids(lines: IO[str], skip: set[str]) -> Iterator[str]:
    for line in lines:
        mpid = line.strip()
        if mpid and not mpid.startswith("#") and mpid not in skip:
            yield mpid


def _as_int(mpid: int | str) -> int | str:
    try:
        return int(mpid)
    except ValueError:
        return mpid  # not an MPID at all: written back as it was read


def _ends_mid_line(path: str) -> bool:
    """True if the file's last line has no newline (an earlier run was cut off mid-write)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return False
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) != b"\n"


def _done_mpids(path: str) -> set[str]:
    """MPIDs that already have a profile in an earlier output file (failures are retried)."""
    done: set[str] = set()
    if not os.path.exists(path):
        return done
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by an interrupted run
            if isinstance(record, dict) and record.get("profile") is not None:
                done.add(str(record.get("mpid")))
    return done


def _count_lines(path: str, skip: set[str]) -> int | None:
    if path == "-":
        return None
    with open(path, encoding="utf-8") as lines:
        return sum(1 for _ in _mpids(lines, skip))


async def lookup_profiles(
    api: ProfileAPI,
    mpids: Iterator[str],
    output: LineWriter,
    *,
    total: int | None,
    concurrency: int,
    fields: tuple[str, ...],
    progress: bool,
    label: str = "looking up",
) -> Counter[str]:
    """Look ``mpids`` up, write a JSON line per result to ``output``; count the outcomes."""
    outcomes: Counter[str] = Counter()
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]:>8.0f}/s  errors {task.fields[errors]}"),
        TimeElapsedColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=stderr, disable=not progress, transient=False) as bar:
        task = bar.add_task(label, total=total, rate=0.0, errors=0)
        result: ProfileResult
        async for result in api.get_many(mpids, concurrency=concurrency, fields=fields or None):
            if result.profile is not None:
                outcomes["found"] += 1
                record: dict[str, Any] = {
                    "mpid": result.profile.mpid,
                    "profile": to_json(result.profile),
                }
            else:
                error = result.error
                if isinstance(error, (Unauthorized, Forbidden, MissingCredentials)):
                    raise error  # every other lookup would fail the same way
                outcomes[type(error).__name__] += 1
                record = {
                    "mpid": _as_int(result.mpid),
                    "error": error_json(error) if error else None,
                }
            output.write(json.dumps(record, separators=(",", ":")) + "\n")
            done = sum(outcomes.values())
            if progress:
                elapsed = time.perf_counter() - started
                bar.update(
                    task,
                    completed=done,
                    rate=done / elapsed if elapsed else 0.0,
                    errors=done - outcomes["found"],
                )
    return outcomes


@profiles.command("lookup")
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, allow_dash=True, dir_okay=False),
    help="A file of MPIDs, one a line, or - for standard input.",
)
@click.option(
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="JSON Lines out: {mpid, profile} or {mpid, error}, one a line.",
)
@click.option("--concurrency", type=click.IntRange(1, 1024), default=32, show_default=True)
@click.option(
    "--skip-existing",
    is_flag=True,
    help="Resume: skip MPIDs the output already has a profile for; append to it.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal).",
)
@_fields_option
@common_options
@run_async
async def lookup(
    input_path: str,
    output_path: str,
    concurrency: int,
    skip_existing: bool,
    progress: bool | None,
    fields: tuple[str, ...],
) -> int:
    """Look up every MPID of INPUT and write one JSON line per MPID to OUTPUT.

    Failures are written too, with their error; nothing is dropped. Exits 1 if any lookup
    failed for a reason other than NotFound.
    """
    skip = _done_mpids(output_path) if skip_existing else set()
    total = _count_lines(input_path, skip)
    show_progress = is_tty() if progress is None else progress
    started = time.perf_counter()
    source = sys.stdin if input_path == "-" else open(input_path, encoding="utf-8")
    try:
        with open(output_path, "a" if skip_existing else "w", encoding="utf-8") as output:
            if skip_existing and _ends_mid_line(output_path):
                output.write("\n")  # keep the cut-off line from swallowing the next one
            async with open_client(settings()) as (mp, _):
                outcomes = await lookup_profiles(
                    mp.profiles,
                    _mpids(source, skip),
                    output,
                    total=total,
                    concurrency=concurrency,
                    fields=fields,
                    progress=show_progress,
                )
    finally:
        if source is not sys.stdin:
            source.close()
    elapsed = time.perf_counter() - started
    done = sum(outcomes.values())
    failed = {k: v for k, v in outcomes.items() if k != "found"}
    summary = {
        "looked_up": done,
        "found": outcomes["found"],
        "failed": failed,
        "skipped": len(skip),
        "seconds": round(elapsed, 3),
        "per_second": round(done / elapsed, 1) if elapsed else None,
        "output": output_path,
    }
    emit(
        summary,
        lambda: print_table(
            ("outcome", "count"),
            [
                ("looked up", done),
                ("found", outcomes["found"]),
                *((f"failed: {k}", v) for k, v in sorted(failed.items())),
                ("skipped (already in the output)", len(skip)),
                ("seconds", f"{elapsed:.2f}"),
                ("per second", f"{done / elapsed:,.0f}" if elapsed else "-"),
            ],
            title=f"profiles lookup -> {output_path}",
        ),
    )
    hard_failures = done - outcomes["found"] - outcomes[NotFound.__name__]
    return 1 if hard_failures else 0

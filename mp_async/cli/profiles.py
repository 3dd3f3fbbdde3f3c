"""``mp-async profile get|resolve`` and ``mp-async profiles lookup``."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any, Protocol

import click

from ..api.mpid import mpid_from_text
from ..api.profiles import Profile, ProfileAPI
from ..errors import NotFound
from ..protocol import ENVIRONMENTS, PROFILE_FIELDS
from .bulk import BulkRun
from .inputs import numbered_lines, open_input, scan_input
from .progress import Counts, Display
from .runtime import (
    EXIT_FAILED,
    EXIT_OK,
    bulk_options,
    common_options,
    emit,
    error_json,
    mpid_option,
    mpid_out,
    open_client,
    print_table,
    progress_mode,
    report,
    require,
    run_async,
    settings,
    stderr,
    to_json,
)

__all__ = ["FieldsType", "LineWriter", "lookup_profiles", "profile", "profiles"]


if TYPE_CHECKING:
    _FieldsBase = click.ParamType[tuple[str, ...]]
else:  # click before 8.2 has no generic ParamType at run time
    _FieldsBase = click.ParamType


class FieldsType(_FieldsBase):
    """Profile API fields, comma-separated: ``--fields user_attributes,audience_memberships``."""

    name = "FIELD[,FIELD...]"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        names = tuple(part.strip() for part in str(value).split(",") if part.strip())
        unknown = [n for n in names if n not in PROFILE_FIELDS]
        if not names or unknown:
            self.fail(
                f"{', '.join(map(repr, unknown)) or repr(value)} is not a Profile API field; "
                f"choose from {', '.join(PROFILE_FIELDS)}",
                param,
                ctx,
            )
        return names


_fields_option = click.option(
    "--fields",
    multiple=True,
    type=FieldsType(),
    help="Fields to return, comma-separated or repeated; all five by default: "
    f"{', '.join(PROFILE_FIELDS)}.",
)


def _fields(given: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for names in given for name in names))


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
@mpid_option
@common_options
@run_async
async def get_profile(mpid: str, fields: tuple[tuple[str, ...], ...]) -> None:
    """Print the profile of MPID."""
    require(settings(), "Profile API", "oauth", "workspace")
    async with open_client(settings()) as (mp, _):
        found = await mp.profiles.get(mpid, fields=_fields(fields) or None)
    emit(found, lambda: show_profile(found))


@profile.command("resolve")
@click.argument("identity_type")
@click.argument("value")
@click.option(
    "--environment",
    type=click.Choice(ENVIRONMENTS),
    default="production",
    show_default=True,
    help="The environment whose identities to search.",
)
@_fields_option
@mpid_option
@common_options
@run_async
async def resolve_profile(
    identity_type: str, value: str, environment: str, fields: tuple[tuple[str, ...], ...]
) -> None:
    """Print the profile of the user whose IDENTITY_TYPE is VALUE (e.g. customer_id 12345)."""
    require(settings(), "Profile API", "oauth", "workspace")
    async with open_client(settings()) as (mp, _):
        found = await mp.profiles.resolve(
            identity_type, value, environment=environment, fields=_fields(fields) or None
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


def _key(mpid: object) -> object:
    """The same MPID however it was written (``"042"``, ``42``); other text as it is."""
    text = str(mpid).strip()
    value = mpid_from_text(text)
    return text if value is None else value


def _mpids(lines: Iterator[tuple[int, str]], skip: set[object], run: BulkRun) -> Iterator[str]:
    for _, text in lines:
        mpid = text.strip()
        if skip and _key(mpid) in skip:
            run.skipped()
            continue
        yield mpid


def _ends_mid_line(path: str) -> bool:
    """True if the file's last line has no newline (an earlier run was cut off mid-write)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return False
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) != b"\n"


def _done_mpids(path: str) -> set[object]:
    """MPIDs that already have a profile in an earlier output file (failures are retried)."""
    done: set[object] = set()
    if not os.path.exists(path):
        return done
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by an interrupted run
            if isinstance(record, dict) and record.get("profile") is not None:
                done.add(_key(record.get("mpid")))
    return done


async def lookup_profiles(
    api: ProfileAPI,
    mpids: Iterator[str],
    output: LineWriter,
    run: BulkRun,
    outcomes: Counter[str],
    *,
    concurrency: int,
    fields: tuple[str, ...],
    mpid_as_number: bool = False,
) -> None:
    """Look ``mpids`` up, write a JSON line per result to ``output``, count the outcomes."""
    async for result in api.get_many(mpids, concurrency=concurrency, fields=fields or None):
        if result.profile is not None:
            outcomes["found"] += 1
            document = to_json(result.profile)
            document["mpid"] = mpid_out(document["mpid"], mpid_as_number)
            record: dict[str, Any] = {"mpid": document["mpid"], "profile": document}
        else:
            error = result.error
            outcomes[type(error).__name__] += 1
            record = {
                "mpid": mpid_out(result.mpid, mpid_as_number),
                "error": error_json(error) if error else None,
            }
        output.write(json.dumps(record, separators=(",", ":")) + "\n")
        run.finished(error=result.error)


@profiles.command("lookup")
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, allow_dash=True, dir_okay=False),
    help="A file of MPIDs, one a line (blank lines and # comments skipped), or - for stdin.",
)
@click.option(
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    help="JSON Lines out, one a line: {mpid, profile} or {mpid, error}; - for stdout.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=32,
    show_default=True,
    help="Lookups in flight at once.",
)
@click.option(
    "--skip-existing",
    is_flag=True,
    help="Resume: skip MPIDs the output already has a profile for; append to it.",
)
@_fields_option
@bulk_options
@mpid_option
@common_options
@run_async
async def lookup(
    input_path: str,
    output_path: str,
    concurrency: int,
    skip_existing: bool,
    fields: tuple[tuple[str, ...], ...],
    progress: bool | None,
    progress_interval: float,
    give_up_after: float,
) -> int:
    """Look up every MPID of INPUT and write one JSON line per MPID to OUTPUT.

    Failures are written too, with their error; nothing is dropped. MPIDs are written as
    strings (--mpid-as-number for numbers). Progress and the summary go to stderr, so
    --output - can be piped. Stops at once when the credentials are refused, or when the
    server has not answered for --give-up-after seconds. Exits 1 if any lookup failed for a
    reason other than NotFound, 130 on Ctrl-C (rerun with --skip-existing to go on).
    """
    s = settings()
    require(s, "Profile API", "oauth", "workspace")
    if skip_existing and output_path == "-":
        raise click.BadParameter(
            "--skip-existing reads the output, so it must be a file", param_hint="--output"
        )
    # Counting first gives the ETA, and a file that is not UTF-8 is refused before any lookup.
    total = None if input_path == "-" else scan_input(input_path, comments=True).lines
    skip = _done_mpids(output_path) if skip_existing else set()
    counts = Counts(total=total)
    display = Display(
        "profiles lookup",
        counts,
        stderr,
        mode=progress_mode(progress),
        interval=progress_interval,
        as_json=s.json,
        failed_label="errors",
    )
    run = BulkRun(display, target="the Profile API", give_up_after=give_up_after)
    outcomes: Counter[str] = Counter()
    source = open_input(input_path)
    try:
        with _open_output(output_path, append=skip_existing) as output:
            async with open_client(s, on_retry=run.on_retry) as (mp, _):
                run.target = mp.hosts.api
                mpids = _mpids(numbered_lines(source, input_path, comments=True), skip, run)
                await run.run(
                    lookup_profiles(
                        mp.profiles,
                        mpids,
                        output,
                        run,
                        outcomes,
                        concurrency=concurrency,
                        fields=_fields(fields),
                        mpid_as_number=s.mpid_as_number,
                    )
                )
    finally:
        if input_path != "-":
            source.close()
    _lookup_summary(run, outcomes, output_path, display.elapsed)
    code = run.exit_code
    if code is None:
        hard_failures = counts.done - outcomes["found"] - outcomes[NotFound.__name__]
        return EXIT_FAILED if hard_failures else EXIT_OK
    if run.interrupted:
        click.echo(
            "mp-async: interrupted; every lookup that finished is in the output: rerun with "
            "--skip-existing to look up the rest",
            err=True,
        )
    elif run.stopped is not None:
        click.echo(f"mp-async: {run.stopped}", err=True)
    return code


@contextlib.contextmanager
def _open_output(path: str, *, append: bool) -> Iterator[IO[str]]:
    """The output file (``-``: stdout, left open), appended to when resuming."""
    if path == "-":
        try:
            yield sys.stdout
        finally:
            sys.stdout.flush()
        return
    cut_off = append and _ends_mid_line(path)
    with open(path, "a" if append else "w", encoding="utf-8") as file:
        if cut_off:
            file.write("\n")  # keep the cut-off line from swallowing the next one
        yield file


def _lookup_summary(run: BulkRun, outcomes: Counter[str], output_path: str, elapsed: float) -> None:
    counts = run.counts
    failed = {k: v for k, v in outcomes.items() if k != "found"}
    per_second = counts.done / elapsed if elapsed > 0 else None
    summary = {
        "looked_up": counts.done,
        "total": counts.total,
        "found": outcomes["found"],
        "failed": failed,
        "skipped": counts.skipped,
        "retries": counts.retries,
        "throttled": counts.throttled,
        "seconds": round(elapsed, 3),
        "per_second": None if per_second is None else round(per_second, 1),
        "output": output_path,
        "interrupted": run.interrupted,
        "stopped": None if run.stopped is None else str(run.stopped),
    }
    of_total = f" of {counts.total - counts.skipped:,}" if counts.total is not None else ""
    state = " (interrupted)" if run.interrupted else " (stopped)" if run.stopped else ""
    report(
        summary,
        [
            ("looked up", f"{counts.done:,}{of_total}"),
            ("found", f"{outcomes['found']:,}"),
            *((f"failed: {k}", f"{v:,}") for k, v in sorted(failed.items())),
            ("skipped (already in the output)", f"{counts.skipped:,}"),
            ("retries", f"{counts.retries:,}"),
            ("429 replies (throttled)", f"{counts.throttled:,}"),
            ("seconds", f"{elapsed:.2f}"),
            ("per second", "-" if per_second is None else f"{per_second:,.0f}"),
        ],
        title=f"profiles lookup -> {'stdout' if output_path == '-' else output_path}{state}",
    )

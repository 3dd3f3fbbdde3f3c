"""``mp-async events``: send event batches from a file of JSON lines (Events API)."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..api.events import FailedBatch
from ..errors import InvalidRequest
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
)

__all__ = ["events"]


# --- events --------------------------------------------------------------------------------


@click.group()
def events() -> None:
    """Send event batches (Events API)."""


@events.command("upload")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--failed-output",
    type=click.Path(dir_okay=False, writable=True),
    help="Where batches that could not be sent are written (default: PATH.failed.jsonl).",
)
@click.option(
    "--historical", is_flag=True, help="Use /bulkevents/historical (data older than 30 days)."
)
@click.option("--progress/--no-progress", default=None)
@common_options
@run_async
async def upload_events(
    path: str, failed_output: str | None, historical: bool, progress: bool | None
) -> int:
    """Upload the batches of a JSON Lines file (one batch object a line) through the uploader.

    Batches that cannot be sent, and lines that are not valid batches, are written to the
    failed output with their errors; the exit code is then 1.
    """
    failed: list[dict[str, Any]] = []
    read = 0
    show = is_tty() if progress is None else progress
    started = time.perf_counter()
    with click.open_file(path, encoding="utf-8") as lines:
        async with open_client(settings()) as (mp, _):
            columns = (
                TextColumn("uploading"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("failed {task.fields[failed]}"),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=stderr, disable=not show) as bar:
                task = bar.add_task("upload", total=None, failed=0)
                async with mp.events.uploader(historical=historical) as uploader:
                    for number, line in enumerate(lines, start=1):
                        if not line.strip():
                            continue
                        read += 1
                        try:
                            batch = json.loads(line)
                            await uploader.add(batch)
                        except (ValueError, RecursionError, InvalidRequest) as exc:
                            # not JSON, or not a valid batch: handed back, never dropped
                            failed.append(
                                {
                                    "line": number,
                                    "batch": line.rstrip("\n"),
                                    "error": error_json(exc),
                                }
                            )
                        bar.update(task, completed=read, failed=len(failed) + len(uploader.failed))
                failed += [_failed_record(f) for f in uploader.failed]
                bar.update(task, completed=read, failed=len(failed))
                sent = uploader.sent
    elapsed = time.perf_counter() - started
    target = None
    if failed:
        target = failed_output or (f"{path}.failed.jsonl" if path != "-" else "failed.jsonl")
        with open(target, "w", encoding="utf-8") as out:
            for record in failed:
                out.write(json.dumps(record, default=str) + "\n")
    summary = {
        "read": read,
        "sent": sent,
        "failed": len(failed),
        "failed_output": target,
        "seconds": round(elapsed, 3),
    }
    emit(
        summary,
        lambda: print_table(
            ("outcome", "count"),
            [
                ("batches read", read),
                ("sent (202)", sent),
                ("failed", len(failed)),
                ("failed batches written to", target or "-"),
                ("seconds", f"{elapsed:.2f}"),
            ],
            title=f"events upload {path}",
        ),
    )
    return 1 if failed else 0


def _failed_record(failure: FailedBatch) -> dict[str, Any]:
    from ..converter import converter

    return {"batch": converter.unstructure(failure.batch), "error": error_json(failure.error)}


# --- emulator and demo ---------------------------------------------------------------------

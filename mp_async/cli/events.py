"""``mp-async events upload``: send the event batches of a JSON Lines file (Events API).

Every line ends in one of two places: accepted by the server (and recorded in the journal, so
a rerun with ``--resume`` skips it), or in the failed-batch file with its error, ready to be
uploaded again as it is.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

import click

from ..api.event_encoding import ChunkOutcome, EncodedBatch, FailedBatch
from ..api.events import EventsAPI
from ..api.mpid import mpid_from_text
from ..api.uploader import BatchUploader
from ..errors import ErrorDetail, InvalidRequest, UploadAborted
from .bulk import BulkRun
from .inputs import numbered_lines, open_input, scan_input
from .journal import NoLog, UploadLog, open_journal, target_fingerprint
from .progress import Counts, Display
from .runtime import (
    EXIT_FAILED,
    EXIT_OK,
    bulk_options,
    common_options,
    error_json,
    mpid_option,
    mpid_out,
    open_client,
    progress_mode,
    report,
    require,
    run_async,
    settings,
    stderr,
)

__all__ = ["FailedFile", "events", "read_batch"]

#: Seconds a stopped upload (Ctrl-C, or an error retrying cannot fix) gives the requests in
#: flight to finish before handing their batches back.
_STOP_GRACE = 2.0


@click.group()
def events() -> None:
    """Send event batches (Events API)."""


def read_batch(text: str) -> tuple[dict[str, Any] | None, Exception | None, str | None]:
    """A line of input as ``(batch, None, None)``, or ``(None, why not, the text to keep)``.

    A line may be a batch, or a record of the failed-batch file (``{"line", "batch",
    "error"}``), which is read as the batch it holds. An ``mpid`` given as a string of digits
    is sent as the integer the Events API's schema asks for (mParticle/docs
    static/schema/mparticle.inbound.eventsapi.schema.json: ``mpid`` is an Integer;
    mparticle.events.oas.yaml: int64).
    """
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return None, InvalidRequest(f"not JSON: {exc}"[:300]), text
    if isinstance(document, dict) and "batch" in document and "environment" not in document:
        held = document["batch"]
        if not isinstance(held, dict):
            kept = document.get("text")
            return None, InvalidRequest("a failed-batch record without a batch"), kept
        document = held
    if not isinstance(document, dict):
        return (
            None,
            InvalidRequest(f"a batch is a JSON object, not {type(document).__name__}"),
            text,
        )
    mpid = document.get("mpid")
    if isinstance(mpid, str) and (value := mpid_from_text(mpid)) is not None:
        document["mpid"] = value
    return document, None, None


class FailedFile:
    """This run's batches that were not accepted, one ``{"line", "batch", "error"}`` a line.

    ``batch`` is always the batch as a JSON object (with the ``source_request_id`` it was
    sent with), or null for a line that was not one, whose text is then kept in ``text``.
    ``events upload`` reads this file back as it is. It replaces the file of an earlier run;
    a run with no failures removes it.
    """

    def __init__(self, path: str, *, mpid_as_number: bool) -> None:
        self.path = path
        self.count = 0
        self._mpid_as_number = mpid_as_number
        self._file: IO[str] | None = None

    def open(self) -> None:
        """Start this run's file (truncating an earlier one)."""
        self._file = sys.stdout if self.path == "-" else open(self.path, "w", encoding="utf-8")

    def write(self, line: int, batch: Any, error: BaseException, text: str | None = None) -> None:
        """Record that ``line`` (``batch``, or ``text`` when it is no batch) failed."""
        assert self._file is not None
        if isinstance(batch, dict) and "mpid" in batch:
            batch = {**batch, "mpid": mpid_out(batch["mpid"], self._mpid_as_number)}
        record: dict[str, Any] = {"line": line, "batch": batch, "error": error_json(error)}
        if batch is None:
            record["text"] = text
        self._file.write(json.dumps(record, default=str) + "\n")
        self.count += 1

    def finish(self) -> str | None:
        """Close the file; remove it if nothing failed. Returns its path if it was kept."""
        file, self._file = self._file, None
        if file is None:
            return None
        if file is sys.stdout:
            file.flush()
            return self.path
        file.close()
        if self.count:
            return self.path
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
        return None


class _Upload:
    """Feeds the lines to a ``BatchUploader`` and books each batch: accepted or failed.

    It is the uploader's ``ChunkSender``, wrapping ``EventsAPI.send_chunk``, so it learns
    which batches each accepted bulk request carried.
    """

    def __init__(
        self,
        api: EventsAPI,
        log: UploadLog,
        failed: FailedFile,
        run: BulkRun,
        *,
        historical: bool,
        concurrency: int,
    ) -> None:
        self._api = api
        self._log = log
        self._failed = failed
        self._run = run
        self._historical = historical
        self._concurrency = concurrency
        # source_request_id -> the input lines of the batches with it, added and not settled
        self._lines: dict[str, list[int]] = {}
        self.read = 0
        self.accepted = 0
        self.reached_end = False
        self.server_errors: list[ErrorDetail] = []

    async def send_all(self, lines: Iterator[tuple[int, str]]) -> None:
        """Add every line's batch to the uploader and wait until each is booked."""
        uploader = BatchUploader(
            self,
            historical=self._historical,
            concurrency=self._concurrency,
            on_failure=self._handed_back,
            cancel_timeout=_STOP_GRACE,
        )
        async with uploader:
            for number, text in lines:
                if self._log.accepted_before(number):
                    self._run.skipped()
                    continue
                self.read += 1
                await self._add(uploader, number, text)
            self.reached_end = True

    async def _add(self, uploader: BatchUploader, number: int, text: str) -> None:
        batch, problem, kept = read_batch(text)
        if batch is None:
            assert problem is not None
            self._failed.write(number, None, problem, kept)
            self._run.finished(error=problem)
            return
        if batch.get("source_request_id") is None:
            given = self._log.source_request_id(number)
            if given is not None:
                batch["source_request_id"] = given
        source_request_id = batch.get("source_request_id")
        if isinstance(source_request_id, str):
            self._lines.setdefault(source_request_id, []).append(number)
        try:
            await uploader.add(batch)
        except InvalidRequest as exc:
            if isinstance(source_request_id, str):
                self._take(source_request_id)
            self._failed.write(number, batch, exc)
            self._run.finished(error=exc)

    def _take(self, source_request_id: str) -> int | None:
        lines = self._lines.get(source_request_id)
        if not lines:
            return None
        line = lines.pop(0)
        if not lines:
            del self._lines[source_request_id]
        return line

    async def send_chunk(self, chunk: list[EncodedBatch], *, historical: bool) -> ChunkOutcome:
        """Send one bulk request; when it is accepted, book its batches.

        Once the run is stopping, nothing new is sent: the requests in flight may finish
        (within the uploader's grace), the rest is handed back at once.
        """
        if self._run.interrupted or self._run.stopped is not None:
            return ChunkOutcome(error=UploadAborted("not sent: the upload was stopped"))
        outcome = await self._api.send_chunk(chunk, historical=historical)
        if outcome.error is None:
            lines = [self._take(item.source_request_id) for item in chunk]
            self._log.accepted([line for line in lines if line is not None])
            self.accepted += len(chunk)
            self.server_errors.extend(outcome.server_errors)
            self._run.finished(len(chunk))
        return outcome

    def _handed_back(self, failures: list[FailedBatch]) -> None:
        booked = 0
        for failure in failures:
            line = self._take(failure.source_request_id)
            if line is None:
                continue  # booked as accepted already: its reply came as the upload stopped
            self._failed.write(line, failure.batch, failure.error)
            booked += 1
        if booked:
            self._run.finished(booked, error=failures[0].error)


@events.command("upload")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--failed-output",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    help="Where the batches that were not accepted go, one {line, batch, error} a line, "
    "ready to upload again as they are (default: PATH.failed.jsonl; - for stdout). Replaced "
    "on every run; a run without failures removes it.",
)
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False, writable=True),
    help="The resume journal (default: PATH.journal): what the server accepted, and the "
    "source_request_id each batch keeps across runs.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Go on with an upload of PATH that did not finish: skip what was accepted, send "
    "the rest with the source_request_ids they had.",
)
@click.option(
    "--restart", is_flag=True, help="Send every batch again, forgetting an earlier upload."
)
@click.option(
    "--historical",
    is_flag=True,
    help="Send to /bulkevents/historical (events at least 72 hours old).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Bulk requests (of up to 100 batches) in flight at once.",
)
@bulk_options
@mpid_option
@common_options
@run_async
async def upload_events(
    path: str,
    failed_output: str | None,
    journal_path: str | None,
    resume: bool,
    restart: bool,
    historical: bool,
    concurrency: int,
    progress: bool | None,
    progress_interval: float,
    give_up_after: float,
) -> int:
    """Upload the batches of PATH, a JSON Lines file (one batch object a line; - for stdin).

    Lines that are not valid batches, and batches the server did not accept, are written to
    the failed output with their errors; the exit code is then 1. An interrupted upload (exit
    130) or one stopped by an error retrying cannot fix goes on with --resume. Batches carry
    a source_request_id (kept from the input, or derived from the journal) so that a batch
    sent twice is recognisable.
    """
    s = settings()
    require(s, "Events API", "keys")
    if resume and restart:
        raise click.UsageError("--resume and --restart contradict each other: choose one")
    from_stdin = path == "-"
    if from_stdin and (resume or journal_path):
        raise click.UsageError("--resume and --journal need a file: stdin cannot be read again")
    scan = None if from_stdin else scan_input(path)
    counts = Counts(total=None if scan is None else scan.lines)
    display = Display(
        "events upload",
        counts,
        stderr,
        mode=progress_mode(progress),
        interval=progress_interval,
        as_json=s.json,
    )
    run = BulkRun(display, target="the Events API", give_up_after=give_up_after)
    failed = FailedFile(
        failed_output or ("failed.jsonl" if from_stdin else f"{path}.failed.jsonl"),
        mpid_as_number=s.mpid_as_number,
    )
    log: UploadLog = NoLog()
    journal_at = None
    async with open_client(s, on_retry=run.on_retry) as (mp, _):
        run.target = mp.hosts.events
        if scan is not None:
            journal_at = journal_path or f"{path}.journal"
            target = target_fingerprint(mp.hosts.events, s.api_key or "")
            log, note = open_journal(
                journal_at,
                input_name=path,
                input_sha256=scan.sha256,
                target=target,
                resume=resume,
                restart=restart,
            )
            if note:
                click.echo(f"mp-async: {note}", err=True)
        upload = _Upload(
            mp.events, log, failed, run, historical=historical, concurrency=concurrency
        )
        source = open_input(path)
        failed.open()
        try:
            await run.run(upload.send_all(numbered_lines(source, path)))
        finally:
            if not from_stdin:
                source.close()
            kept = failed.finish()
            complete = (
                run.exit_code is None
                and upload.reached_end
                and not failed.count
                and not upload.server_errors
            )
            log.close(complete=complete)
    _summary(path, run, upload, kept, journal_at, display.elapsed)
    code = run.exit_code
    if code is None:
        return EXIT_FAILED if failed.count or upload.server_errors else EXIT_OK
    left = f"{counts.total - counts.skipped - upload.accepted:,} " if counts.total else ""
    if run.interrupted:
        message = "interrupted"
    else:
        message = str(run.stopped)
    if journal_at:
        message += f"; {left}batches are not accepted yet: rerun with --resume to send them"
    click.echo(f"mp-async: {message}", err=True)
    return code


def _summary(
    path: str,
    run: BulkRun,
    upload: _Upload,
    failed_output: str | None,
    journal: str | None,
    elapsed: float,
) -> None:
    counts = run.counts
    per_second = counts.done / elapsed if elapsed > 0 else None
    failed = counts.failed
    server_errors = [e.message for e in upload.server_errors]
    summary = {
        "read": upload.read,
        "total": counts.total,
        "sent": upload.accepted,
        "skipped": counts.skipped,
        "failed": failed,
        "failed_output": failed_output,
        "server_errors": server_errors,
        "journal": journal,
        "retries": counts.retries,
        "throttled": counts.throttled,
        "seconds": round(elapsed, 3),
        "per_second": None if per_second is None else round(per_second, 1),
        "interrupted": run.interrupted,
        "stopped": None if run.stopped is None else str(run.stopped),
    }
    of_total = f" of {counts.total - counts.skipped:,}" if counts.total is not None else ""
    state = " (interrupted)" if run.interrupted else " (stopped)" if run.stopped else ""
    rows: list[tuple[str, object]] = [
        ("batches read", f"{upload.read:,}{of_total}"),
        ("accepted (202)", f"{upload.accepted:,}"),
        ("accepted earlier (skipped)", f"{counts.skipped:,}"),
        ("failed", f"{failed:,}" + (f" -> {failed_output}" if failed_output else "")),
    ]
    if server_errors:
        rows.append(("errors in accepted requests", "; ".join(server_errors)[:300]))
    rows += [
        ("retries", f"{counts.retries:,}"),
        ("429 replies (throttled)", f"{counts.throttled:,}"),
        ("seconds", f"{elapsed:.2f}"),
        ("batches per second", "-" if per_second is None else f"{per_second:,.0f}"),
        ("journal", journal or "-"),
    ]
    report(summary, rows, title=f"events upload {path}{state}")

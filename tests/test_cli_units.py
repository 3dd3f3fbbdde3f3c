"""The command line's pieces on their own: counting input, the rate and ETA, the resume
journal, reading a batch line, MPIDs out, and what an error tells the operator."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from pathlib import Path

import click
import pytest
from rich.console import Console

from mp_async.cli import inputs
from mp_async.cli.bulk import BulkRun, Stop
from mp_async.cli.events import read_batch
from mp_async.cli.inputs import BadInput, numbered_lines, scan_input
from mp_async.cli.journal import Journal, open_journal
from mp_async.cli.progress import Counts, Display, RateMeter, format_duration
from mp_async.cli.runtime import hint_for, mpid_out
from mp_async.errors import (
    CertificateError,
    ConnectError,
    Forbidden,
    NotFound,
    RequestTimeout,
    Unauthorized,
)

# --- counting input ------------------------------------------------------------------------

TEXT = b"1\n\n  \n# note\r\n22\r\n333\n\n4444"  # no newline at the end


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_scan_counts_lines_of_work_whatever_the_chunk_size(
    tmp_path: Path, monkeypatch, chunk: int
) -> None:
    monkeypatch.setattr(inputs, "_CHUNK", chunk)
    path = tmp_path / "in.txt"
    path.write_bytes(TEXT)

    assert scan_input(str(path)).lines == 5  # "# note" is a line of work without comments
    assert scan_input(str(path), comments=True).lines == 4
    assert scan_input(str(path)).sha256 == hashlib.sha256(TEXT).hexdigest()


def test_scan_of_an_empty_file_finds_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    assert scan_input(str(tmp_path / "empty")).lines == 0


@pytest.mark.parametrize("chunk", [4, 1 << 20])
def test_scan_names_the_line_and_column_of_a_byte_that_is_not_utf8(
    tmp_path: Path, monkeypatch, chunk: int
) -> None:
    monkeypatch.setattr(inputs, "_CHUNK", chunk)
    path = tmp_path / "in.txt"
    path.write_bytes("héllo\nok\n".encode() + b"ab\xffc\n")

    with pytest.raises(BadInput) as info:
        scan_input(str(path))

    assert info.value.line == 3
    assert str(info.value) == (
        f"{path}: line 3 is not UTF-8 text (byte 0xff at column 3); save the file as UTF-8"
    )


def test_numbered_lines_skip_blanks_and_keep_the_numbering() -> None:
    source = io.BytesIO(TEXT)
    assert list(numbered_lines(source, "in", comments=True)) == [
        (1, "1"),
        (5, "22"),
        (6, "333"),
        (8, "4444"),
    ]
    with pytest.raises(BadInput, match="in: line 2 is not UTF-8"):
        list(numbered_lines(io.BytesIO(b"1\n\xc3\n"), "in"))


# --- rate and ETA --------------------------------------------------------------------------


def test_the_rate_is_measured_over_the_last_ten_seconds() -> None:
    meter = RateMeter(window=10.0)
    assert meter.rate() is None
    meter.sample(0.0, 0)
    meter.sample(10.0, 1000)  # 100/s
    assert meter.rate() == 100.0
    meter.sample(20.0, 1200)  # the last ten seconds: 20/s
    meter.sample(21.0, 1220)
    assert meter.rate() == pytest.approx(220 / 11)


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "-:--:--"), (0, "0:00:00"), (59.6, "0:01:00"), (3725, "1:02:05")]
)
def test_durations_read_as_hours_minutes_seconds(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_the_stats_line_shows_done_rate_eta_retries_and_429s(monkeypatch) -> None:
    now = iter([0.0, 0.0, 10.0, 10.0, 10.0])
    monkeypatch.setattr("mp_async.cli.progress.clock", lambda: next(now))
    counts = Counts(total=1100, skipped=100)
    display = Display("x", counts, Console(file=io.StringIO()), mode="off")
    display.start()
    counts.done, counts.retries, counts.throttled, counts.failed = 250, 7, 5, 2
    display.refresh()  # 250 in 10 s: 25/s, 750 to go: 30 s

    assert display.stats() == "250/1,000  25%  25/s  ETA 0:00:30  retries 7  429s 5  failed 2"


# --- the journal ---------------------------------------------------------------------------


def open_at(path: Path, **kwargs: object) -> tuple[Journal, str | None]:
    options: dict[str, object] = {
        "input_name": "in.jsonl",
        "input_sha256": "abc",
        "target": "t",
        "resume": False,
        "restart": False,
    }
    options.update(kwargs)
    return open_journal(str(path), **options)  # type: ignore[arg-type]


def test_a_resumed_journal_skips_what_was_accepted_and_keeps_the_ids(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.journal"
    journal, note = open_at(path)
    assert note is None
    ids = [journal.source_request_id(n) for n in (1, 2, 3)]
    assert len(set(ids)) == 3
    journal.accepted([3, 1, 2, 10])
    journal.accepted([11])
    journal.close(complete=False)
    with path.open("a") as file:
        file.write('{"accepted": [[5')  # cut off by a process that was killed

    resumed, note = open_at(path, resume=True)

    assert note is not None and "5 batches were accepted" in note
    assert [n for n in range(1, 13) if resumed.accepted_before(n)] == [1, 2, 3, 10, 11]
    assert [resumed.source_request_id(n) for n in (1, 2, 3)] == ids
    resumed.accepted([12])  # after the cut-off line, on a line of its own
    resumed.close(complete=False)
    again, _ = open_at(path, resume=True)
    again.close(complete=False)
    assert [n for n in range(1, 13) if again.accepted_before(n)] == [1, 2, 3, 10, 11, 12]


def test_a_journal_records_accepted_lines_as_ranges(tmp_path: Path) -> None:
    journal, _ = open_at(tmp_path / "j")
    journal.accepted([4, 1, 2, 3, 9, 7, 8])
    journal.close(complete=False)
    records = [json.loads(line) for line in (tmp_path / "j").read_text().splitlines()]
    assert records[1] == {"accepted": [[1, 4], [7, 9]]}


def test_a_journal_refuses_a_rerun_that_would_duplicate_or_skip(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal, _ = open_at(path)
    journal.accepted([1])
    journal.close(complete=False)
    with pytest.raises(click.UsageError, match=r"did not finish .*--resume.*--restart"):
        open_at(path)
    with pytest.raises(click.UsageError, match="another version of the input"):
        open_at(path, input_sha256="changed", resume=True)
    with pytest.raises(click.UsageError, match="another Events API host or key"):
        open_at(path, target="elsewhere", resume=True)
    # without --resume, a journal of something else is replaced
    journal, note = open_at(path, target="elsewhere")
    assert note is not None and "replacing" in note and not journal.accepted_before(1)
    journal.close(complete=True)
    with pytest.raises(click.UsageError, match=r"every batch of in\.jsonl was accepted"):
        open_at(path, target="elsewhere")


def test_a_file_that_is_not_a_journal_is_named(tmp_path: Path) -> None:
    (tmp_path / "j").write_text("hello\n")
    with pytest.raises(click.UsageError, match="not a journal mp-async can read"):
        open_at(tmp_path / "j", resume=True)


# --- reading a batch line ------------------------------------------------------------------


def test_a_batch_line_gives_its_batch_with_a_digit_string_mpid_as_an_integer() -> None:
    batch, problem, _ = read_batch('{"environment": "production", "mpid": "3653260803050964941"}')
    assert problem is None and batch == {"environment": "production", "mpid": 3653260803050964941}


def test_a_failed_batch_record_reads_as_the_batch_it_holds() -> None:
    record = {"line": 4, "batch": {"environment": "development", "mpid": "7"}, "error": {}}
    batch, problem, _ = read_batch(json.dumps(record))
    assert problem is None and batch == {"environment": "development", "mpid": 7}
    _, problem, kept = read_batch(json.dumps({"line": 5, "batch": None, "text": "{oops"}))
    assert problem is not None and kept == "{oops"


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "42", '"a batch"'])
def test_a_line_that_is_not_a_json_object_is_handed_back_with_its_text(text: str) -> None:
    batch, problem, kept = read_batch(text)
    assert batch is None and problem is not None and kept == text


# --- MPIDs out, and what an error tells the operator ---------------------------------------


@pytest.mark.parametrize(
    ("mpid", "as_number", "out"),
    [
        (3653260803050964941, False, "3653260803050964941"),
        (3653260803050964941, True, 3653260803050964941),
        (" 042", False, "42"),
        ("-7", True, -7),
        ("abc", True, "abc"),  # not an MPID: written back as it was read
        (None, False, None),
    ],
)
def test_mpids_go_out_as_strings_unless_numbers_are_asked_for(
    mpid: object, as_number: bool, out: object
) -> None:
    assert mpid_out(mpid, as_number) == out


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (Unauthorized("x", status=401, path="/oauth/token"), "--client-id and --client-secret"),
        (Unauthorized("x", status=401, path="/userprofile/v1/1/2/3/4"), "--client-secret"),
        (
            Forbidden("x", status=403, path="/userprofile/v1/1/2/3/4"),
            "--org-id, --account-id and --workspace-id",
        ),
        (Forbidden("x", status=403, path="/events/v2/bulkevents"), "MPARTICLE_API_SECRET"),
        (Forbidden("x", status=403, path="/v2/bulkevents"), "--api-key and --api-secret"),
        (Unauthorized("x", status=401, path="/identity/v1/identify"), "and --auth"),
        (ConnectError("x"), "--base-url (MPARTICLE_BASE_URL) or --pod (MPARTICLE_POD)"),
        (RequestTimeout("x"), "and the network"),
        (CertificateError("x"), "TLS certificate"),
    ],
)
def test_an_error_names_what_the_operator_can_change(error: Exception, says: str) -> None:
    hint = hint_for(error)
    assert hint is not None and says in hint


def test_an_error_the_operator_cannot_fix_by_a_setting_has_no_hint() -> None:
    assert hint_for(NotFound("x", status=404, path="/userprofile/v1/1/2/3/4")) is None


# --- the run -------------------------------------------------------------------------------


async def test_a_stop_after_the_work_finished_changes_nothing() -> None:
    display = Display("x", Counts(), Console(file=io.StringIO()), mode="off")
    run = BulkRun(display, target="t", give_up_after=60)

    async def work() -> None:
        await asyncio.sleep(0)

    await run.run(work())
    run.stop(Stop("too late"))

    assert run.stopped is None and run.exit_code is None

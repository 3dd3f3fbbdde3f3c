"""``profiles lookup`` and ``events upload`` as an operator meets them: failing fast, showing
throttling and progress without a terminal, output that pipes, MPIDs that survive jq, the
failed-batch file, resuming, and input that is not UTF-8. Each runs the command in this
process against an emulator serving from a thread."""

from __future__ import annotations

import io
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import (
    SteppingClock,
    batch,
    customers,
    emulator_thread,
    env_for,
    progress_lines,
    run,
    summary_of,
    write_lines,
)

from mp_async.emulator import Emulator, EmulatorState

SEEDED = EmulatorState().seed_profiles(300, seed=0)


@pytest.fixture
def emu(monkeypatch) -> Iterator[Emulator]:
    """An emulator with 300 profiles, and the MPARTICLE_* variables pointing at it."""
    for name in list(os.environ):
        if name.startswith("MPARTICLE_"):
            monkeypatch.delenv(name)
    with emulator_thread(profiles=300, seed=0) as emulator:
        for name, value in env_for(emulator).items():
            monkeypatch.setenv(name, value)
        yield emulator


@pytest.fixture
def stepping_clock(monkeypatch) -> SteppingClock:
    """Progress measured on a clock where every interval has passed at each reading."""
    clock = SteppingClock()
    monkeypatch.setattr("mp_async.cli.progress.clock", clock)
    return clock


@pytest.fixture
def mpids(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "mpids.txt", [str(m) for m in SEEDED])


def lookup(capsys, mpids: Path, output: str, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "profiles", "lookup", "--input", str(mpids), "--output", output, *extra)


def messages(err: str) -> list[str]:
    """The lines the command said to the operator (not the summary, not progress)."""
    return [line for line in err.splitlines() if line.startswith("mp-async: ")]


def events_requests(emu: Emulator) -> int:
    return sum(n for (_, route), n in emu.state.requests.items() if route.startswith("events"))


def upload_file(tmp_path: Path, count: int, name: str = "batches.jsonl") -> Path:
    return write_lines(tmp_path / name, [json.dumps(batch(i)) for i in range(count)])


# --- fail fast -----------------------------------------------------------------------------


def test_a_wrong_events_secret_stops_at_the_first_refusal_with_one_line(
    emu, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("MPARTICLE_API_SECRET", "not-the-secret")
    source = upload_file(tmp_path, 3000)

    code, _, err = run(capsys, "events", "upload", str(source), "--no-progress")

    assert code == 1
    # the uploader had at most its 8 bulk requests in flight when the first 403 came back
    assert emu.state.statuses[403] <= 8 and events_requests(emu) <= 8
    said = messages(err)
    assert len(said) == 1, err
    assert "Forbidden" in said[0]
    assert "check --api-key and --api-secret (MPARTICLE_API_KEY, MPARTICLE_API_SECRET)" in said[0]
    assert "--resume" in said[0]


def test_a_refused_client_secret_stops_the_lookup_before_any_profile_request(
    emu, mpids: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("MPARTICLE_CLIENT_SECRET", "not-the-secret")

    code, _, err = lookup(capsys, mpids, str(tmp_path / "out.jsonl"), "--no-progress")

    assert code == 1
    assert emu.state.requests[("GET", "profile.get")] == 0
    said = messages(err)
    assert len(said) == 1, err
    assert "check --client-id and --client-secret" in said[0]
    assert "MPARTICLE_CLIENT_ID, MPARTICLE_CLIENT_SECRET" in said[0]


def test_lookup_gives_up_on_a_host_that_refuses_every_connection(
    mpids: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with emulator_thread() as emulator:
        for name, value in env_for(emulator).items():
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("MPARTICLE_BASE_URL", f"http://127.0.0.1:{port}")

    code, _, err = lookup(
        capsys, mpids, str(tmp_path / "out.jsonl"), "--no-progress", "--give-up-after", "0.3"
    )

    assert code == 1
    said = messages(err)
    assert len(said) == 1, err
    assert f"no reply from http://127.0.0.1:{port} for 0.3 s" in said[0]
    assert "ConnectError" in said[0]
    assert "--base-url (MPARTICLE_BASE_URL)" in said[0]


# --- throttling, progress and the ETA ------------------------------------------------------


def test_retries_and_429s_are_shown_live_and_in_the_summary(
    emu, mpids: Path, tmp_path: Path, capsys, stepping_clock
) -> None:
    # One 429 for each of the last five MPIDs: late, so the client has a rate to pace at.
    for mpid in SEEDED[-5:]:
        emu.faults.fail_next(
            429, headers={"Retry-After": "0"}, path_prefix=f"/userprofile/v1/1/2/3/{mpid}"
        )

    code, _, err = lookup(capsys, mpids, str(tmp_path / "out.jsonl"), "--json")

    assert code == 0, err
    summary = summary_of(err)
    assert summary["retries"] == 5 and summary["throttled"] == 5
    assert emu.state.statuses[429] == 5
    lines = progress_lines(err)
    assert lines, "no progress line without a terminal"
    assert lines[-1]["retries"] == 5 and lines[-1]["throttled"] == 5


def test_without_a_terminal_progress_lines_show_done_total_rate_and_eta(
    emu, mpids: Path, tmp_path: Path, capsys, stepping_clock
) -> None:
    write_lines(mpids, ["# the seeded ones", *(str(m) for m in SEEDED), "", "42"])

    code, _, err = lookup(capsys, mpids, str(tmp_path / "out.jsonl"))

    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("mp-async: profiles lookup ")]
    assert len(lines) >= 2
    # counted before the first lookup: 301 MPIDs (the comment and the blank line are not)
    assert all("/301" in line for line in lines)
    assert all("/s  ETA " in line and "retries 0  429s 0" in line for line in lines)
    assert "ETA 0:00:00" not in lines[0]  # 1 of 301 done: time remains


def test_events_upload_counts_its_input_for_the_eta(
    emu, tmp_path: Path, capsys, stepping_clock
) -> None:
    source = upload_file(tmp_path, 450)

    code, _, err = run(capsys, "events", "upload", str(source), "--json")

    assert code == 0, err
    lines = progress_lines(err)
    assert lines and all(p["total"] == 450 for p in lines)
    assert any(p["eta_seconds"] is not None and p["per_second"] for p in lines)
    assert summary_of(err)["sent"] == 450


# --- output that pipes, MPIDs that survive jq ----------------------------------------------


def test_output_dash_puts_the_data_alone_on_stdout(emu, mpids: Path, capsys) -> None:
    code, out, err = lookup(capsys, mpids, "-", "--json")

    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 300 and all("profile" in r for r in records)
    assert summary_of(err)["looked_up"] == 300
    assert not Path("-").exists()


def test_lookup_writes_mpids_as_strings_or_as_numbers_on_request(
    emu, tmp_path: Path, capsys
) -> None:
    big = max(SEEDED)
    assert big > 2**53  # a number jq would round
    source = write_lines(tmp_path / "mpids.txt", [str(big), "42"])

    code, out, _ = lookup(capsys, source, "-")
    records = {r["mpid"]: r for r in map(json.loads, out.splitlines())}
    assert code == 0 and set(records) == {str(big), "42"}
    assert records[str(big)]["profile"]["mpid"] == str(big)

    code, out, _ = lookup(capsys, source, "-", "--mpid-as-number")
    records = {r["mpid"]: r for r in map(json.loads, out.splitlines())}
    assert set(records) == {big, 42} and records[big]["profile"]["mpid"] == big


def test_an_events_batch_may_give_its_mpid_as_a_string_of_digits(
    emu, tmp_path: Path, capsys
) -> None:
    big = max(SEEDED)
    document = batch(0)
    del document["user_identities"]
    document["mpid"] = str(big)
    source = write_lines(tmp_path / "batches.jsonl", [json.dumps(document)])

    code, _, err = run(capsys, "events", "upload", str(source), "--no-progress")

    assert code == 0, err
    assert [b["mpid"] for b in emu.state.event_batches] == [big]


# --- the failed-batch file -----------------------------------------------------------------


def test_the_failed_file_has_one_shape_and_uploads_again_as_it_is(
    emu, tmp_path: Path, capsys
) -> None:
    lines = [json.dumps(batch(i)) for i in range(250)]
    lines += ["{not json", json.dumps({"environment": "staging", "mpid": 7})]
    source = write_lines(tmp_path / "batches.jsonl", lines)
    emu.faults.fail_next(400, path_prefix="/events/v2/bulkevents")  # refuses one bulk request

    code, _, err = run(capsys, "events", "upload", str(source), "--json")

    assert code == 1
    summary = summary_of(err)
    assert summary["read"] == 252 and summary["sent"] == 150 and summary["failed"] == 102
    failed_path = Path(summary["failed_output"])
    records = [json.loads(line) for line in failed_path.read_text().splitlines()]
    assert len(records) == 102
    for record in records:
        assert set(record) - {"text"} == {"line", "batch", "error"}
        assert isinstance(record["batch"], dict) or (
            record["batch"] is None and isinstance(record["text"], str)
        )
    refused = {r["batch"]["source_request_id"] for r in records if r["error"]["status"] == 400}
    assert len(refused) == 100
    bad = {r["line"]: r for r in records if r["error"]["status"] is None}
    assert bad[251]["text"] == "{not json" and bad[252]["batch"]["mpid"] == "7"

    # uploaded again as it is: the refused batches go, with the ids they were sent with
    code, _, err = run(capsys, "events", "upload", str(failed_path), "--json")

    assert code == 1  # the two bad lines are still bad
    assert summary_of(err)["sent"] == 100
    delivered_ids = set().union(*customers(emu).values())
    assert refused <= delivered_ids
    assert len(emu.state.event_batches) == 250


def test_a_clean_run_removes_the_failed_file_of_an_earlier_run(emu, tmp_path: Path, capsys) -> None:
    source = upload_file(tmp_path, 10)
    stale = tmp_path / "batches.jsonl.failed.jsonl"
    stale.write_text('{"line": 1, "batch": null, "error": {}}\n')

    code, _, err = run(capsys, "events", "upload", str(source), "--json")

    assert code == 0, err
    assert not stale.exists()
    assert summary_of(err)["failed_output"] is None


# --- resuming ------------------------------------------------------------------------------


def test_resume_sends_only_what_was_not_accepted_with_the_same_ids(
    emu, tmp_path: Path, capsys
) -> None:
    source = upload_file(tmp_path, 300)
    emu.faults.fail_next(400, path_prefix="/events/v2/bulkevents")

    code, _, err = run(capsys, "events", "upload", str(source), "--json")
    assert code == 1 and summary_of(err)["failed"] == 100
    failed_path = Path(summary_of(err)["failed_output"])
    refused = {
        json.loads(line)["batch"]["user_identities"]["customer_id"]: json.loads(line)["batch"][
            "source_request_id"
        ]
        for line in failed_path.read_text().splitlines()
    }

    # a rerun without --resume or --restart would duplicate or skip: it asks
    code, _, err = run(capsys, "events", "upload", str(source))
    assert code == 2 and len(messages(err)) == 1
    assert "--resume" in err and "--restart" in err and "200 batches accepted" in err

    code, _, err = run(capsys, "events", "upload", str(source), "--resume", "--json")

    assert code == 0, err
    summary = summary_of(err)
    assert summary["skipped"] == 200 and summary["sent"] == 100
    assert not failed_path.exists()
    delivered = customers(emu)
    assert len(delivered) == 300 and len(emu.state.event_batches) == 300
    assert {c: ids.pop() for c, ids in delivered.items() if c in refused} == refused

    # finished: a rerun says so, and --resume has nothing left to send
    code, _, err = run(capsys, "events", "upload", str(source))
    assert code == 2 and "every batch" in err and "--restart" in err
    code, _, err = run(capsys, "events", "upload", str(source), "--resume", "--json")
    assert code == 0 and summary_of(err)["sent"] == 0
    assert len(emu.state.event_batches) == 300


def test_restart_sends_everything_again_under_new_ids(emu, tmp_path: Path, capsys) -> None:
    source = upload_file(tmp_path, 20)
    assert run(capsys, "events", "upload", str(source))[0] == 0
    code, _, err = run(capsys, "events", "upload", str(source), "--restart", "--json")
    assert code == 0 and summary_of(err)["sent"] == 20
    assert all(len(ids) == 2 for ids in customers(emu).values())


def test_a_changed_input_starts_a_new_journal(emu, tmp_path: Path, capsys) -> None:
    source = upload_file(tmp_path, 20)
    assert run(capsys, "events", "upload", str(source))[0] == 0
    upload_file(tmp_path, 30)  # tomorrow's export, same name

    code, _, err = run(capsys, "events", "upload", str(source), "--json")

    assert code == 0 and summary_of(err)["sent"] == 30
    assert "replacing" in err and "another version of the input" in err
    code, _, err = run(capsys, "events", "upload", str(source), "--resume")
    assert code == 0


# --- input that is not UTF-8 ---------------------------------------------------------------


def test_a_file_that_is_not_utf8_is_refused_with_its_line_before_anything_is_sent(
    emu, tmp_path: Path, capsys
) -> None:
    source = tmp_path / "batches.jsonl"
    good = json.dumps(batch(0)).encode()
    source.write_bytes(good + b"\n" + good + b"\n" + b'{"environment": "caf\xe9"}\n')

    code, _, err = run(capsys, "events", "upload", str(source))

    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "line 3 is not UTF-8 text (byte 0xe9 at column 21)" in err
    assert events_requests(emu) == 0


def test_standard_input_that_is_not_utf8_stops_with_its_line(emu, capsys, monkeypatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(f"{SEEDED[0]}\n{SEEDED[1]}\n\xff\n".encode("latin-1")))
    monkeypatch.setattr(sys, "stdin", stdin)

    code, _out, err = run(
        capsys, "profiles", "lookup", "--input", "-", "--output", "-", "--no-progress"
    )

    assert code == 2
    said = messages(err)
    assert len(said) == 1 and "-: line 3 is not UTF-8 text (byte 0xff at column 1)" in said[0]
    assert "Traceback" not in err

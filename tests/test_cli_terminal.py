"""The command line as a process: Ctrl-C (SIGINT), a live bar on a terminal (a pseudo-terminal),
and ``mp-async emulator``'s fault flags."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cli_support import (
    batch,
    customers,
    emulator_thread,
    env_for,
    process,
    run,
    summary_of,
    write_lines,
)

from mp_async.emulator import EmulatorState

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="signals and pseudo-terminals")

SEEDED = EmulatorState().seed_profiles(300, seed=0)


def wait_for_progress(stderr: Any, done: int) -> list[str]:
    """Read ``--json`` progress lines until one says ``done`` items are finished."""
    seen = []
    for raw in stderr:
        line = raw.decode()
        seen.append(line)
        if line.startswith('{"progress"') and json.loads(line)["progress"]["done"] >= done:
            return seen
    raise AssertionError(f"the command ended first: {''.join(seen)}")


def test_ctrl_c_stops_a_lookup_with_exit_130_and_its_summary(tmp_path: Path) -> None:
    mpids = write_lines(tmp_path / "mpids.txt", [str(m) for m in SEEDED])
    output = tmp_path / "out.jsonl"
    with emulator_thread(profiles=300, seed=0) as emu:
        emu.faults.latency = 0.05  # 300 lookups, two at a time: 7.5 s if left alone
        lookup = process(
            [
                "profiles",
                "lookup",
                "--input",
                str(mpids),
                "--output",
                str(output),
                "--concurrency",
                "2",
                "--json",
                "--progress-interval",
                "0.01",
            ],
            env_for(emu),
        )
        assert lookup.stderr is not None
        before = wait_for_progress(lookup.stderr, 5)
        lookup.send_signal(signal.SIGINT)
        _, rest = lookup.communicate(timeout=30)

    err = "".join(before) + rest.decode()
    assert lookup.returncode == 130, err
    summary = summary_of(err)
    assert summary["interrupted"] is True
    assert 5 <= summary["looked_up"] < 300
    assert len(output.read_text().splitlines()) == summary["looked_up"]
    assert err.rstrip().splitlines()[-1].startswith("mp-async: interrupted")
    assert "--skip-existing" in err and "Traceback" not in err


def test_ctrl_c_during_an_upload_writes_the_failed_file_and_resume_finishes_it(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    source = write_lines(tmp_path / "batches.jsonl", [json.dumps(batch(i)) for i in range(2000)])
    with emulator_thread() as emu:
        emu.faults.latency = 0.2  # 20 bulk requests, one at a time: four seconds if left alone
        upload = process(
            [
                "events",
                "upload",
                str(source),
                "--concurrency",
                "1",
                "--json",
                "--progress-interval",
                "0.01",
            ],
            env_for(emu),
        )
        assert upload.stderr is not None
        before = wait_for_progress(upload.stderr, 100)
        upload.send_signal(signal.SIGINT)
        _, rest = upload.communicate(timeout=30)
        err = "".join(before) + rest.decode()

        assert upload.returncode == 130, err
        first = summary_of(err)
        assert first["interrupted"] is True and 100 <= first["sent"] < 2000
        assert first["sent"] + first["failed"] == 2000
        failed = [
            json.loads(line) for line in Path(first["failed_output"]).read_text().splitlines()
        ]
        assert len(failed) == first["failed"]
        assert {f["error"]["type"] for f in failed} == {"UploadAborted"}
        assert "rerun with --resume" in err.rstrip().splitlines()[-1]
        sent_first = {c: set(ids) for c, ids in customers(emu).items()}

        emu.faults.latency = 0.0
        for name, value in env_for(emu).items():
            monkeypatch.setenv(name, value)
        code, _, err = run(capsys, "events", "upload", str(source), "--resume", "--json")

        assert code == 0, err
        second = summary_of(err)
        # what the server had accepted is skipped; what was in flight at Ctrl-C may go twice
        assert second["skipped"] == first["sent"]
        assert second["sent"] == 2000 - first["sent"]
        delivered = customers(emu)
        assert len(delivered) == 2000
        # every batch kept one source_request_id, however often it was sent
        assert all(len(ids) == 1 for ids in delivered.values())
        assert all(delivered[c] == ids for c, ids in sent_first.items())
        assert not Path(first["failed_output"]).exists()


def read_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the command with stderr on a pseudo-terminal; its exit code and what it showed."""
    leader, follower = pty.openpty()
    command = process(
        argv,
        {**env, "COLUMNS": "140", "TERM": "xterm-256color"},
        stderr=follower,
        stdout=subprocess.DEVNULL,
    )
    os.close(follower)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other end closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return command.wait(timeout=30), shown.decode(errors="replace")


def test_on_a_terminal_a_live_bar_shows_rate_eta_retries_and_429s(tmp_path: Path) -> None:
    mpids = write_lines(tmp_path / "mpids.txt", [str(m) for m in SEEDED])
    with emulator_thread(profiles=300, seed=0) as emu:
        for mpid in SEEDED[-3:]:
            emu.faults.fail_next(
                429, headers={"Retry-After": "0"}, path_prefix=f"/userprofile/v1/1/2/3/{mpid}"
            )
        code, shown = read_terminal(
            ["profiles", "lookup", "--input", str(mpids), "--output", str(tmp_path / "o.jsonl")],
            env_for(emu),
        )

    assert code == 0, shown
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert "━" in text  # the bar
    final = [line for line in text.replace("\r", "\n").splitlines() if "300/300" in line]
    assert final, text
    assert "/s  ETA 0:00:00  retries 3  429s 3  errors 0" in final[-1]


def test_the_emulator_flags_add_errors_and_latency(tmp_path: Path) -> None:
    emulator = process(
        [
            "emulator",
            "--port",
            "0",
            "--profiles",
            "1",
            "--error-rate",
            "1",
            "--latency",
            "0.2",
            "--json",
        ],
        {},
        stderr=subprocess.DEVNULL,
    )
    try:
        assert emulator.stdout is not None
        text = ""
        while True:
            line = emulator.stdout.readline().decode()
            assert line, "the emulator stopped"
            text += line
            if line.rstrip() == "}":
                break
        variables = json.loads(text)
        base = variables["MPARTICLE_BASE_URL"]
        token_request = urllib.request.Request(
            f"{base}/oauth/token",
            data=json.dumps(
                {
                    "client_id": variables["MPARTICLE_CLIENT_ID"],
                    "client_secret": variables["MPARTICLE_CLIENT_SECRET"],
                    "audience": "https://api.mparticle.com",
                    "grant_type": "client_credentials",
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(token_request, timeout=10) as reply:
            token = json.load(reply)["access_token"]
        profile = urllib.request.Request(
            f"{base}/userprofile/v1/1/2/3/{EmulatorState().seed_profiles(1, seed=0)[0]}",
            headers={"Authorization": f"Bearer {token}"},
        )
        started = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(profile, timeout=10)
        assert refused.value.code == 503  # --error-rate 1: every API request fails
        refused.value.close()
        assert time.monotonic() - started >= 0.2  # --latency 0.2: never sooner than that
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        assert emulator.stdout is not None
        emulator.stdout.close()

"""The command line, driven as a user would: arguments in, output and exit code out."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mp_async.cli import main
from mp_async.emulator import EmulatorState

SEEDED = EmulatorState().seed_profiles(1000, seed=0)  # what --emulator serves


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_profiles_lookup_of_1000_mpids_with_some_missing(tmp_path: Path, capsys) -> None:
    missing = ["11", "22", "33", "44", "55"]
    wanted = [str(m) for m in SEEDED[:995]] + missing
    source = tmp_path / "mpids.txt"
    source.write_text("# one MPID a line\n" + "\n".join(wanted) + "\n\n")
    target = tmp_path / "out.jsonl"

    code, out, err = run(
        capsys,
        "profiles",
        "lookup",
        "--input",
        str(source),
        "--output",
        str(target),
        "--concurrency",
        "16",
        "--emulator",
        "--json",
    )

    assert code == 0, err
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert sorted(str(r["mpid"]) for r in records) == sorted(wanted)
    found = {str(r["mpid"]): r["profile"] for r in records if "profile" in r}
    assert len(found) == 995
    assert found[str(SEEDED[0])]["user_attributes"]["$firstname"] == "Ada"
    errors = {str(r["mpid"]): r["error"] for r in records if "error" in r}
    assert set(errors) == set(missing)
    assert all(e["type"] == "NotFound" and e["status"] == 404 for e in errors.values())
    summary = json.loads(out)
    assert summary["looked_up"] == 1000 and summary["found"] == 995
    assert summary["failed"] == {"NotFound": 5}


def test_profiles_lookup_resumes_with_skip_existing(tmp_path: Path, capsys) -> None:
    source = tmp_path / "mpids.txt"
    target = tmp_path / "out.jsonl"
    source.write_text("\n".join(str(m) for m in SEEDED[:40]) + "\n")
    first = "\n".join(str(m) for m in SEEDED[:25]) + "\n"
    (tmp_path / "first.txt").write_text(first)
    assert (
        run(
            capsys,
            "profiles",
            "lookup",
            "--input",
            str(tmp_path / "first.txt"),
            "--output",
            str(target),
            "--emulator",
        )[0]
        == 0
    )
    with target.open("a") as out:
        out.write('{"mpid": 1, "prof')  # a line cut short by an interrupted run

    code, out, _ = run(
        capsys,
        "profiles",
        "lookup",
        "--input",
        str(source),
        "--output",
        str(target),
        "--skip-existing",
        "--emulator",
        "--json",
    )

    assert code == 0
    assert json.loads(out)["skipped"] == 25 and json.loads(out)["looked_up"] == 15
    lines = target.read_text().splitlines()
    mpids = [json.loads(line)["mpid"] for line in lines if line.endswith("}")]
    assert sorted(int(m) for m in mpids if m != 1) == sorted(SEEDED[:40])


def test_profiles_lookup_reads_standard_input(tmp_path: Path, capsys, monkeypatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{SEEDED[1]}\n{SEEDED[2]}\n"))
    target = tmp_path / "out.jsonl"
    code, _, _ = run(
        capsys, "profiles", "lookup", "--input", "-", "--output", str(target), "--emulator"
    )
    assert code == 0
    assert len(target.read_text().splitlines()) == 2


def test_profile_get_prints_json(capsys) -> None:
    code, out, _ = run(
        capsys,
        "profile",
        "get",
        str(SEEDED[0]),
        "--fields",
        "user_attributes",
        "--emulator",
        "--json",
    )
    assert code == 0
    document = json.loads(out)
    assert document["mpid"] == SEEDED[0]
    assert document["user_attributes"]["$country"] == "US"
    assert document["user_identities"] == []


def test_profile_get_prints_a_readable_table(capsys) -> None:
    code, out, _ = run(capsys, "profile", "get", str(SEEDED[0]), "--emulator")
    assert code == 0
    assert "attribute $firstname" in out and "Ada" in out


def test_profile_resolve_finds_the_user(capsys) -> None:
    code, out, _ = run(
        capsys, "profile", "resolve", "customer_id", "cust-0-3", "--emulator", "--json"
    )
    assert code == 0
    assert json.loads(out)["mpid"] == SEEDED[3]


def test_an_api_error_is_one_line_on_stderr_and_exit_1(capsys) -> None:
    code, out, err = run(capsys, "profile", "get", "12345", "--emulator")
    assert code == 1
    assert out == ""
    assert err.strip().count("\n") == 0
    assert "NotFound" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["profile", "get", "not-a-number", "--emulator"],
        ["profile", "get", "1", "--fields", "colour", "--emulator"],
        ["profile", "frobnicate"],
        ["identity", "identify", "--emulator"],
        ["identity", "identify", "--id", "shoe_size=9", "--emulator"],
        ["groups", "create", "--id", "ab", "--source-user-attribute", "$a", "--emulator"],
        [
            "groups",
            "create",
            "--id",
            "abc",
            "--source-user-attribute",
            "$a",
            "--attribute",
            "ltv:median",
            "--emulator",
        ],
    ],
)
def test_bad_usage_exits_2_without_a_traceback(capsys, argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err and err.strip()


def test_missing_credentials_are_named(capsys, monkeypatch) -> None:
    for name in list(os.environ):
        if name.startswith("MPARTICLE_"):
            monkeypatch.delenv(name)
    code, _, err = run(
        capsys, "profile", "get", "1", "--org-id", "1", "--account-id", "2", "--workspace-id", "3"
    )
    assert code == 2
    assert "oauth" in err.lower()


def test_identity_identify_then_search_with_each_auth(capsys) -> None:
    for auth in ("hmac", "basic", "key"):
        code, out, err = run(
            capsys,
            "identity",
            "identify",
            "--email",
            "ada@example.com",
            "--customer-id",
            "42",
            "--auth",
            auth,
            "--emulator",
            "--json",
        )
        assert code == 0, err
        assert isinstance(json.loads(out)["mpid"], int)
    # each --emulator run is a new emulator: nobody is there to find
    code, _, err = run(capsys, "identity", "search", "--email", "ada@example.com", "--emulator")
    assert code == 1
    assert "NoUserMatched" in err


def test_demo_looks_profiles_up_and_prints_a_summary(capsys) -> None:
    code, out, _ = run(capsys, "demo", "--count", "300", "--no-progress")
    assert code == 0
    assert "profiles found" in out and "300" in out
    assert "not found (as expected)" in out


def test_without_the_cli_extra_the_message_says_what_to_install(capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "click", None)
    monkeypatch.delitem(sys.modules, "mp_async.cli.commands", raising=False)
    code, _, err = run(capsys)
    assert code == 2
    assert "pip install 'mp-async[cli]'" in err


# --- a real emulator process, several commands against the same state -----------------------


@pytest.fixture(scope="module")
def emulator_process() -> Iterator[dict[str, str]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "mp_async", "emulator", "--port", str(port), "--profiles", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.05)
        state = EmulatorState()
        yield {
            "MPARTICLE_BASE_URL": f"http://127.0.0.1:{port}",
            "MPARTICLE_CLIENT_ID": state.client_id,
            "MPARTICLE_CLIENT_SECRET": state.client_secret,
            "MPARTICLE_API_KEY": state.api_key,
            "MPARTICLE_API_SECRET": state.api_secret,
            "MPARTICLE_ORG_ID": str(state.org_id),
            "MPARTICLE_ACCOUNT_ID": str(state.account_id),
            "MPARTICLE_WORKSPACE_ID": str(state.workspace_id),
        }
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def test_groups_round_trip_against_a_running_emulator(
    emulator_process, capsys, monkeypatch
) -> None:
    for name, value in emulator_process.items():
        monkeypatch.setenv(name, value)
    code, out, err = run(
        capsys,
        "groups",
        "create",
        "--id",
        "household",
        "--source-user-attribute",
        "$address",
        "--attribute",
        "ltv:sum",
        "--description",
        "same address",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["id"] == "household"
    code, out, _ = run(capsys, "groups", "list")
    assert code == 0 and "household" in out and "ltv:sum" in out
    assert run(capsys, "groups", "get", "household", "--json")[0] == 0
    assert run(capsys, "groups", "delete", "household")[0] == 0
    code, _, err = run(capsys, "groups", "get", "household")
    assert code == 1 and "NotFound" in err


def test_events_upload_sends_every_batch_and_hands_back_bad_lines(
    emulator_process, tmp_path: Path, capsys, monkeypatch
) -> None:
    for name, value in emulator_process.items():
        monkeypatch.setenv(name, value)
    batches = [
        {
            "environment": "development",
            "user_identities": {"customer_id": f"c{i}"},
            "events": [
                {
                    "event_type": "custom_event",
                    "data": {"event_name": "Test", "custom_event_type": "other"},
                }
            ],
        }
        for i in range(250)
    ]
    lines = [json.dumps(b) for b in batches] + [
        "{not json",
        json.dumps({"environment": "staging"}),
    ]
    source = tmp_path / "batches.jsonl"
    source.write_text("\n".join(lines) + "\n")

    code, out, _ = run(capsys, "events", "upload", str(source), "--json")

    assert code == 1  # two lines could not be sent
    summary = json.loads(out)
    assert summary["read"] == 252 and summary["sent"] == 250 and summary["failed"] == 2
    failed = [json.loads(line) for line in Path(summary["failed_output"]).read_text().splitlines()]
    assert [f["line"] for f in failed] == [251, 252]
    assert {f["error"]["type"] for f in failed} == {"JSONDecodeError", "InvalidRequest"}


def test_a_missing_input_file_is_bad_usage_not_a_traceback(tmp_path: Path, capsys) -> None:
    code, _, err = run(
        capsys,
        "profiles",
        "lookup",
        "--input",
        str(tmp_path / "nope.txt"),
        "--output",
        str(tmp_path / "out.jsonl"),
        "--emulator",
    )
    assert code == 2 and "Traceback" not in err and "nope.txt" in err


def test_an_unwritable_output_is_bad_usage_not_a_traceback(tmp_path: Path, capsys) -> None:
    source = tmp_path / "mpids.txt"
    source.write_text(f"{SEEDED[0]}\n")
    code, _, err = run(
        capsys,
        "profiles",
        "lookup",
        "--input",
        str(source),
        "--output",
        str(tmp_path / "missing-dir" / "out.jsonl"),
        "--emulator",
    )
    assert code == 2 and "Traceback" not in err and "missing-dir" in err


def test_a_port_already_taken_is_one_line_not_a_traceback(capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "emulator", "--port", str(port), "--profiles", "0")
    assert code == 1 and "Traceback" not in err and err.startswith("mp-async: ")


@pytest.mark.parametrize("mpid", ["--5", "²"])
def test_an_mpid_that_is_not_digits_is_bad_usage(capsys, mpid: str) -> None:
    code, _, err = run(capsys, "profile", "get", "--emulator", "--", mpid)
    assert code == 2 and "mpid" in err

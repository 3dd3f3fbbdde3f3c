"""The command line, driven as a user would: arguments in, output and exit code out."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from cli_support import run, summary_of

from mp_async.cli.commands import cli
from mp_async.emulator import EmulatorState

SEEDED = EmulatorState().seed_profiles(1000, seed=0)  # what --emulator serves


@pytest.fixture(autouse=True)
def _no_mparticle_environment(monkeypatch) -> None:
    """Only what a test sets: an operator's MPARTICLE_* variables must not leak in."""
    for name in list(os.environ):
        if name.startswith("MPARTICLE_"):
            monkeypatch.delenv(name)


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
    assert out == ""  # the data went to the file; the summary is on stderr
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert sorted(r["mpid"] for r in records) == sorted(wanted)
    found = {r["mpid"]: r["profile"] for r in records if "profile" in r}
    assert len(found) == 995
    assert found[str(SEEDED[0])]["user_attributes"]["$firstname"] == "Ada"
    errors = {r["mpid"]: r["error"] for r in records if "error" in r}
    assert set(errors) == set(missing)
    assert all(e["type"] == "NotFound" and e["status"] == 404 for e in errors.values())
    summary = summary_of(err)
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

    code, _, err = run(
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
    assert summary_of(err)["skipped"] == 25 and summary_of(err)["looked_up"] == 15
    lines = target.read_text().splitlines()
    mpids = [json.loads(line)["mpid"] for line in lines if line.endswith("}")]
    assert sorted(int(m) for m in mpids if m != 1) == sorted(SEEDED[:40])


def test_profiles_lookup_reads_standard_input(tmp_path: Path, capsys, monkeypatch) -> None:
    import io

    stdin = io.TextIOWrapper(io.BytesIO(f"{SEEDED[1]}\n{SEEDED[2]}\n".encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
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
    assert document["mpid"] == str(SEEDED[0])  # a string: jq would round a number this big
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
    assert json.loads(out)["mpid"] == str(SEEDED[3])


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


def test_missing_credentials_name_the_flags_and_variables_to_set(capsys) -> None:
    code, _, err = run(
        capsys, "profile", "get", "1", "--org-id", "1", "--account-id", "2", "--workspace-id", "3"
    )
    assert code == 2
    assert err.count("\n") == 1
    assert "--client-id and --client-secret" in err
    assert "MPARTICLE_CLIENT_ID, MPARTICLE_CLIENT_SECRET" in err


def test_a_missing_workspace_names_the_flags_not_python(capsys) -> None:
    code, _, err = run(
        capsys, "profile", "get", "1", "--client-id", "a", "--client-secret", "b", "--org-id", "1"
    )
    assert code == 2 and err.count("\n") == 1
    assert "--account-id and --workspace-id" in err
    assert "MPARTICLE_ACCOUNT_ID, MPARTICLE_WORKSPACE_ID" in err
    assert "Workspace(" not in err and "workspace=" not in err


def test_events_upload_without_keys_names_them(tmp_path: Path, capsys) -> None:
    source = tmp_path / "batches.jsonl"
    source.write_text("{}\n")
    code, _, err = run(capsys, "events", "upload", str(source), "--api-key", "k")
    assert code == 2 and err.count("\n") == 1
    assert "--api-secret (MPARTICLE_API_SECRET)" in err and "events_auth" not in err


def test_an_identity_type_in_the_events_spelling_names_the_flag_and_the_right_one(capsys) -> None:
    code, _, err = run(capsys, "identity", "identify", "--id", "customer_id=5", "--emulator")
    assert code == 2 and err.count("\n") == 1
    assert "--id" in err and "'customerid'" in err
    assert "known_identities" not in err


def test_a_group_definition_error_names_the_flag(capsys) -> None:
    code, _, err = run(
        capsys, "groups", "create", "--id", "ab", "--source-user-attribute", "$a", "--emulator"
    )
    assert code == 2 and err.count("\n") == 1
    assert "Invalid value for --id" in err and "3-32 characters" in err


def test_usage_errors_are_one_line_that_points_at_help(capsys) -> None:
    code, _, err = run(capsys, "profiles", "lookup", "--emulator")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("mp-async: ")
    assert "--input" in err and "'mp-async profiles lookup --help'" in err


def test_fields_take_a_comma_separated_list(capsys) -> None:
    code, out, err = run(
        capsys,
        "profile",
        "get",
        str(SEEDED[0]),
        "--fields",
        "user_attributes,device_identities",
        "--emulator",
        "--json",
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["user_attributes"]["$firstname"] == "Ada"
    assert document["device_identities"] and document["user_identities"] == []


def test_an_unknown_field_names_the_allowed_ones(capsys) -> None:
    code, _, err = run(capsys, "profile", "get", "1", "--fields", "user_attributes,colour")
    assert code == 2 and err.count("\n") == 1
    assert "'colour'" in err and "audience_memberships" in err


def test_mpid_as_number_writes_numbers(capsys) -> None:
    code, out, _ = run(
        capsys, "profile", "get", str(SEEDED[0]), "--emulator", "--json", "--mpid-as-number"
    )
    assert code == 0 and json.loads(out)["mpid"] == SEEDED[0]


def _commands(group: click.Group, path: str = "mp-async") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _commands(command, f"{path} {name}")
        else:
            found.append((f"{path} {name}", command))
    return found


@pytest.mark.parametrize(("path", "command"), _commands(cli), ids=lambda v: str(v))
def test_every_option_has_help_and_shows_the_variable_it_reads(
    path: str, command: click.Command
) -> None:
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{path} {param.opts[0]} has no help text"
            if param.envvar:
                assert param.show_envvar, f"{path} {param.opts[0]} hides {param.envvar}"


def test_help_shows_the_environment_variables(capsys) -> None:
    code, out, _ = run(capsys, "profiles", "lookup", "--help")
    assert code == 0
    out = " ".join(out.split())  # as wrapped to the terminal's width
    for name in ("MPARTICLE_CLIENT_ID", "MPARTICLE_CLIENT_SECRET", "MPARTICLE_BASE_URL"):
        assert f"env var: {name}" in out


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
        assert json.loads(out)["mpid"].isdigit()
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


def read_exports(stdout) -> dict[str, str]:
    """The variables ``mp-async emulator`` printed as ``export`` lines."""
    found: dict[str, str] = {}
    while len(found) < 8:
        line = stdout.readline().decode()
        assert line, f"the emulator stopped after printing {found}"
        words = shlex.split(line)
        assert words[0] == "export", line
        name, _, value = words[1].partition("=")
        found[name] = value
    return found


@pytest.fixture(scope="module")
def emulator_process() -> Iterator[dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mp_async", "emulator", "--port", "0", "--profiles", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        yield read_exports(process.stdout)
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def test_the_emulator_prints_export_lines_a_shell_can_eval(emulator_process) -> None:
    exports = " ".join(
        f"export {name}={shlex.quote(value)};" for name, value in emulator_process.items()
    )
    shown = subprocess.run(
        ["bash", "-c", f'eval "{exports}"; env'], capture_output=True, text=True, check=True
    ).stdout
    for name, value in emulator_process.items():
        assert f"{name}={value}\n" in shown
    assert emulator_process["MPARTICLE_BASE_URL"].startswith("http://127.0.0.1:")
    assert emulator_process["MPARTICLE_CLIENT_ID"] == EmulatorState().client_id


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


def test_the_recorded_session_shows_rate_eta_retries_and_429s() -> None:
    docs = Path(__file__).resolve().parent.parent / "docs"
    capture = (docs / "cli-lookup-session.txt").read_text(encoding="utf-8")
    assert (docs / "record_lookup_session.py").exists()  # what refreshes it
    bars = [line for line in capture.splitlines() if line.startswith("[") and "ETA " in line]
    assert len(bars) >= 5
    assert "20,000/20,000" in bars[-1]
    throttled = [int(line.split("429s ")[1].split()[0].replace(",", "")) for line in bars]
    assert throttled[-1] > 0 and all("/s  ETA " in line and "retries " in line for line in bars)

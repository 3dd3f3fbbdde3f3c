"""Record ``docs/cli-lookup-session.txt``: ``mp-async profiles lookup`` on 20,000 MPIDs against
an emulator that throttles, once on a terminal and once without one (as under cron).

    python docs/record_lookup_session.py            # about a minute

It starts ``mp-async emulator`` (20,000 profiles, 429 above 1,000 requests/s), runs the
lookup under a pseudo-terminal, and writes what the terminal showed: the live bar once a
second (with the time it was on screen), then the summary. The second run pipes stderr, as a
cron job or a container's log would, and keeps its progress lines as they are.
"""

from __future__ import annotations

import os
import pty
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mp_async.emulator import EmulatorState

PROFILES = 20_000
THROTTLE = 1_000  # requests/s the emulator allows before it answers 429
CONCURRENCY = 64
COLUMNS = 118
OUT = Path(__file__).with_name("cli-lookup-session.txt")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

EMULATOR = ["emulator", "--port", "0", "--profiles", str(PROFILES), "--throttle", str(THROTTLE)]
LOOKUP = [
    "profiles",
    "lookup",
    "--input",
    "mpids.txt",
    "--output",
    "profiles.jsonl",
    "--concurrency",
    str(CONCURRENCY),
]


def mp_async(*argv: str) -> list[str]:
    return [sys.executable, "-m", "mp_async", *argv]


def start_emulator() -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    emulator = subprocess.Popen(
        mp_async(*EMULATOR), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert emulator.stdout is not None
    variables: dict[str, str] = {}
    while len(variables) < 8:
        line = emulator.stdout.readline().decode()
        if not line:
            raise SystemExit("the emulator did not start")
        name, _, value = shlex.split(line)[1].partition("=")
        variables[name] = value
    return emulator, variables


def on_a_terminal(env: dict[str, str], cwd: str) -> list[tuple[float, str]]:
    """Run the lookup with a pseudo-terminal for stdout and stderr; (seconds, text) read."""
    leader, follower = pty.openpty()
    started = time.monotonic()
    lookup = subprocess.Popen(
        mp_async(*LOOKUP),
        env={**env, "COLUMNS": str(COLUMNS), "TERM": "xterm-256color"},
        cwd=cwd,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks: list[tuple[float, str]] = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the other end closed
            break
        if not data:
            break
        chunks.append((time.monotonic() - started, data.decode(errors="replace")))
    os.close(leader)
    lookup.wait()
    return chunks


def frames(chunks: list[tuple[float, str]]) -> tuple[list[tuple[float, str]], list[str]]:
    """The bar as it was redrawn, with the time of each redraw; and the lines after it."""
    text = "".join(chunk for _, chunk in chunks)
    ends = []
    position = 0
    for seconds, chunk in chunks:
        position += len(chunk)
        ends.append((position, seconds))
    bar, _, rest = text.partition("\r\n")
    drawn: list[tuple[float, str]] = []
    offset = 0
    for piece in bar.split("\r"):
        offset += len(piece) + 1
        seconds = next(s for end, s in ends if end >= offset - 1)
        line = _ANSI.sub("", piece).rstrip()
        if line:
            drawn.append((seconds, line))
    after = [_ANSI.sub("", line).rstrip() for line in rest.split("\r\n")]
    return drawn, [line for line in after if line]


def once_a_second(drawn: list[tuple[float, str]]) -> list[str]:
    """The last redraw of each second (the last second's is the final state)."""
    shown: dict[int, str] = {}
    for seconds, line in drawn:
        shown[int(seconds)] = line
    return [f"[{second:3d} s] {line}" for second, line in sorted(shown.items())]


def without_a_terminal(env: dict[str, str], cwd: str) -> list[str]:
    """Run the lookup with stderr piped, as under cron: its progress lines and summary."""
    lookup = subprocess.run(
        mp_async(*LOOKUP, "--progress-interval", "2"),
        env={**env, "COLUMNS": str(COLUMNS)},
        cwd=cwd,
        capture_output=True,
        check=False,
    )
    return [line.rstrip() for line in lookup.stderr.decode().rstrip().splitlines()]


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        mpids = EmulatorState().seed_profiles(PROFILES, seed=0)  # what the emulator seeds
        Path(workdir, "mpids.txt").write_text("\n".join(map(str, mpids)) + "\n")
        emulator, variables = start_emulator()
        try:
            env = {**os.environ, **variables}
            drawn, after = frames(on_a_terminal(env, workdir))
            plain = without_a_terminal(env, workdir)
        finally:
            emulator.terminate()
            emulator.wait()
    command = "mp-async " + " ".join(LOOKUP)
    lines = [
        "# mp-async profiles lookup: 20,000 MPIDs against an emulator that throttles",
        "#",
        "# Recorded by docs/record_lookup_session.py (run it again to refresh this file).",
        f"# The emulator answers 429 (Retry-After: 1) above {THROTTLE:,} requests/s; the client",
        "# learns that limit and paces under it, so 429s come in short waves.",
        "",
        f"$ mp-async emulator --port 8080 --profiles {PROFILES} --throttle {THROTTLE} "
        "> emulator.env &",
        '$ eval "$(cat emulator.env)"',
        "",
        "## On a terminal: the live bar (shown here as it stood at the end of each second)",
        "",
        f"$ {command}",
        *once_a_second(drawn),
        *after,
        "",
        "## Without a terminal (cron, a container's log): a progress line every few seconds",
        "",
        f"$ {command} --progress-interval 2 2> lookup.log",
        "$ cat lookup.log",
        *plain,
        "",
    ]
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

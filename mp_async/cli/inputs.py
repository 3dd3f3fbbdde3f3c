"""Reading an operator's input files: counted (and checked) up front, then read line by line.

A file is read twice: once in binary chunks to count its lines (for the ETA), check that it is
UTF-8 before anything is sent, and fingerprint it (for resuming); then line by line as the work
goes. Standard input is read once, and checked as it goes.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
from collections.abc import Iterator
from typing import IO

import attrs

__all__ = ["BadInput", "InputScan", "numbered_lines", "open_input", "scan_input"]

_CHUNK = 1 << 20

# A line that holds nothing to do: empty or whitespace; with comments, also "# ...".
_BLANK = re.compile(rb"^[ \t\r\f\v]*$", re.MULTILINE)
_BLANK_OR_COMMENT = re.compile(rb"^[ \t\r\f\v]*(?:#[^\n]*)?$", re.MULTILINE)


class BadInput(Exception):
    """An input line the command cannot read; the message names the file and the line."""

    def __init__(self, name: str, line: int, problem: str) -> None:
        super().__init__(f"{name}: line {line} {problem}")
        self.line = line


@attrs.frozen
class InputScan:
    """What one pass over a file found: its lines of work, and a fingerprint of its bytes."""

    lines: int
    sha256: str


def _not_utf8(name: str, line: int, error: UnicodeDecodeError, line_start: int) -> BadInput:
    byte = error.object[error.start]
    return BadInput(
        name,
        line,
        f"is not UTF-8 text (byte 0x{byte:02x} at column {error.start - line_start + 1}); "
        "save the file as UTF-8",
    )


def scan_input(path: str, *, comments: bool = False) -> InputScan:
    """Count the lines of work in ``path`` and check it is UTF-8, in one binary pass.

    Raises ``BadInput`` naming the first line that is not UTF-8.
    """
    blank = _BLANK_OR_COMMENT if comments else _BLANK
    digest = hashlib.sha256()
    lines = 0
    before = 0  # lines before the current region
    carry = b""
    with open(path, "rb") as file:
        while True:
            chunk = file.read(_CHUNK)
            digest.update(chunk)
            data = carry + chunk
            # Work on whole lines; a line cut by the chunk boundary waits for the next chunk.
            cut = len(data) if not chunk else data.rfind(b"\n") + 1
            region, carry = data[:cut], data[cut:]
            if region:
                _check_utf8(path, region, before)
                body = region[:-1] if region.endswith(b"\n") else region
                count = body.count(b"\n") + 1
                lines += count - len(blank.findall(body))
                before += count
            if not chunk:
                return InputScan(lines, digest.hexdigest())


def _check_utf8(name: str, region: bytes, before: int) -> None:
    if region.isascii():
        return
    try:
        region.decode("utf-8")
    except UnicodeDecodeError as error:
        line_start = region.rfind(b"\n", 0, error.start) + 1
        line = before + region.count(b"\n", 0, error.start) + 1
        raise _not_utf8(name, line, error, line_start) from None


def open_input(path: str) -> IO[bytes]:
    """``path`` opened for reading bytes; ``-`` is standard input."""
    if path == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        # A stand-in stdin without bytes underneath (a test's StringIO) is read whole.
        return buffer if buffer is not None else io.BytesIO(sys.stdin.read().encode())
    return open(path, "rb")


def numbered_lines(
    source: IO[bytes], name: str, *, comments: bool = False
) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` for each line of work, without its line ending.

    Blank lines (and, with ``comments``, lines starting with ``#``) are skipped but counted.
    Raises ``BadInput`` at a line that is not UTF-8.
    """
    for number, raw in enumerate(source, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _not_utf8(name, number, error, 0) from None
        stripped = text.strip(" \t\r\n\f\v")  # the blanks scan_input skips
        if not stripped or (comments and stripped.startswith("#")):
            continue
        yield number, text.rstrip("\r\n")

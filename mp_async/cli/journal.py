"""Resuming ``events upload``: which lines the server accepted, and the id each batch keeps.

``events upload`` speaks to an ``UploadLog`` only, so another mechanism (the uploader's own
spool, when it has one) can take the journal's place behind the same few calls.

The journal is a JSON Lines file beside the input (``INPUT.journal``): a header naming the
input (its SHA-256), the target (a hash of the Events URL and API key) and the namespace the
batches' ``source_request_id``s are derived from; then one line per accepted bulk request,
the input lines it carried as ranges; and, once every batch was accepted, a ``complete``
line. A line is appended and flushed as each bulk request is accepted, so even a process
that is killed loses at most the request in flight: a rerun sends that one again, with the
same ids, and the server can recognise the repeat.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Sequence
from typing import IO, Any, Protocol

import click

__all__ = ["Journal", "NoLog", "UploadLog", "open_journal", "target_fingerprint"]

_KIND = "mp-async events upload journal"
_VERSION = 1


class UploadLog(Protocol):
    """What ``events upload`` needs to resume: skip what was accepted, keep every batch's id."""

    def accepted_before(self, line: int) -> bool:
        """True if an earlier run had ``line``'s batch accepted by the server."""
        ...

    def source_request_id(self, line: int) -> str | None:
        """The id to send ``line``'s batch with, the same on every run (None: any new one)."""
        ...

    def accepted(self, lines: Sequence[int]) -> None:
        """The server accepted the batches of ``lines``."""
        ...

    def close(self, *, complete: bool) -> None:
        """The run is over; ``complete`` if every batch of the input has now been accepted."""
        ...


class NoLog:
    """For standard input, which cannot be read again: nothing to resume, fresh ids."""

    def accepted_before(self, line: int) -> bool:
        """Never: nothing was kept."""
        return False

    def source_request_id(self, line: int) -> str | None:
        """None: the uploader gives the batch a new id."""
        return None

    def accepted(self, lines: Sequence[int]) -> None:
        """Nothing to keep."""

    def close(self, *, complete: bool) -> None:
        """Nothing to close."""


def target_fingerprint(events_url: str, api_key: str) -> str:
    """Names where batches went without keeping the key itself in the journal."""
    return hashlib.sha256(f"{events_url}\n{api_key}".encode()).hexdigest()[:16]


def _ranges(lines: Iterable[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for line in sorted(lines):
        if ranges and line == ranges[-1][1] + 1:
            ranges[-1][1] = line
        elif not ranges or line > ranges[-1][1]:
            ranges.append([line, line])
    return ranges


class Journal:
    """An ``UploadLog`` in a file; see the module docstring. Use ``open_journal``."""

    def __init__(self, path: str, header: dict[str, Any], accepted: bytearray) -> None:
        self.path = path
        self._header = header
        self._namespace = uuid.UUID(str(header["namespace"]))
        self._bits = accepted  # bit n set: line n was accepted
        self._file: IO[str] | None = None
        #: Lines accepted in earlier runs.
        self.resumed = _count(accepted)

    def accepted_before(self, line: int) -> bool:
        """True if an earlier run had ``line``'s batch accepted by the server."""
        index = line >> 3
        return index < len(self._bits) and bool(self._bits[index] & (1 << (line & 7)))

    def source_request_id(self, line: int) -> str:
        """A UUID derived from the journal's namespace and the line number."""
        return str(uuid.uuid5(self._namespace, str(line)))

    def accepted(self, lines: Sequence[int]) -> None:
        """Append (and flush) a record of ``lines``."""
        if not lines:
            return
        for line in lines:
            _set(self._bits, line)
        self._append({"accepted": _ranges(lines)})

    def start(self) -> None:
        """Write the header of a new journal (an existing one is replaced)."""
        self._file = open(self.path, "w", encoding="utf-8")
        self._append(self._header)

    def reopen(self) -> None:
        """Append to the journal this one was read from."""
        cut_off = False
        with open(self.path, "rb") as file:
            if file.seek(0, os.SEEK_END):
                file.seek(-1, os.SEEK_END)
                cut_off = file.read(1) != b"\n"
        self._file = open(self.path, "a", encoding="utf-8")
        if cut_off:
            self._file.write("\n")  # a killed process left half a line: start a new one

    def close(self, *, complete: bool) -> None:
        """Close the file; once complete, rewrite it compactly with a ``complete`` line."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if complete:
            partial = f"{self.path}.partial"
            with open(partial, "w", encoding="utf-8") as file:
                for record in (
                    self._header,
                    {"accepted": _ranges(_lines(self._bits))},
                    {"complete": True},
                ):
                    file.write(json.dumps(record) + "\n")
            os.replace(partial, self.path)

    def _append(self, record: dict[str, Any]) -> None:
        assert self._file is not None
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()


def _set(bits: bytearray, line: int) -> None:
    index = line >> 3
    if index >= len(bits):
        bits.extend(bytes(index - len(bits) + 1 + len(bits) // 2))
    bits[index] |= 1 << (line & 7)


def _lines(bits: bytearray) -> Iterable[int]:
    for index, byte in enumerate(bits):
        if byte:
            for bit in range(8):
                if byte & (1 << bit):
                    yield index * 8 + bit


def _count(bits: bytearray) -> int:
    return int.from_bytes(bits, "little").bit_count()


def _read(path: str) -> tuple[dict[str, Any], bytearray, bool]:
    """A journal's header, accepted lines and completeness; raises ValueError if unreadable."""
    header: dict[str, Any] | None = None
    bits = bytearray()
    complete = False
    with open(path, encoding="utf-8") as file:
        for text in file:
            try:
                record = json.loads(text)
            except ValueError:
                continue  # a last line cut off by a process that was killed
            if header is None:
                if not isinstance(record, dict) or record.get("journal") != _KIND:
                    raise ValueError("not a journal")
                header = record
            elif isinstance(record, dict):
                for first, last in record.get("accepted", ()):
                    for line in range(int(first), int(last) + 1):
                        _set(bits, line)
                complete = complete or record.get("complete") is True
    if header is None or header.get("version") != _VERSION:
        raise ValueError("not a journal")
    return header, bits, complete


def open_journal(
    path: str, *, input_name: str, input_sha256: str, target: str, resume: bool, restart: bool
) -> tuple[Journal, str | None]:
    """The journal to run with, and a note for the operator; refuses what would do harm.

    Without ``--resume`` or ``--restart``, a journal of the same input and target stops the
    command (exit 2): sending it all again would duplicate what was accepted, and skipping
    would surprise. A journal of another input or target is replaced (``--resume`` refuses).
    """
    fresh = {
        "journal": _KIND,
        "version": _VERSION,
        "input": os.path.basename(input_name),
        "input_sha256": input_sha256,
        "target": target,
        "namespace": str(uuid.uuid4()),
    }
    if not os.path.exists(path) or restart:
        journal = Journal(path, fresh, bytearray())
        journal.start()
        note = f"--resume: there is no journal at {path}; sending everything" if resume else None
        return journal, note
    try:
        header, bits, complete = _read(path)
    except (OSError, ValueError, TypeError) as exc:
        raise click.UsageError(
            f"{path} is not a journal mp-async can read ({exc}); remove it, or choose another "
            "with --journal"
        ) from None
    differs = (
        "another version of the input"
        if header.get("input_sha256") != input_sha256
        else "another Events API host or key"
        if header.get("target") != target
        else None
    )
    if differs is not None:
        if resume:
            raise click.UsageError(
                f"cannot resume: {path} was written for {differs}; --restart sends everything"
            )
        journal = Journal(path, fresh, bytearray())
        journal.start()
        return journal, f"replacing {path}, which was written for {differs}"
    journal = Journal(path, header, bits)
    if not resume:
        if complete:
            raise click.UsageError(
                f"every batch of {input_name} was accepted in an earlier run ({path}); "
                "--restart sends them all again"
            )
        raise click.UsageError(
            f"{path} records an upload of {input_name} that did not finish "
            f"({journal.resumed:,} batches accepted): --resume sends the rest with the same "
            "source_request_ids, --restart sends everything again"
        )
    journal.reopen()
    return journal, f"resuming: {journal.resumed:,} batches were accepted earlier and are skipped"

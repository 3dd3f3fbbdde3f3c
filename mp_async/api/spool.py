"""``Spool``: the batches an uploader has taken and not yet delivered, in a local SQLite file.

A worker that acknowledges its queue's message once ``add`` returns needs the batch to outlive
the process: a deploy, an OOM kill or a lost node would otherwise lose every batch buffered in
memory. With a spool, ``add`` returns only once the batch is written to the file; it leaves the
file when the server accepted it, or when it was handed back for a reason no retry can fix. An
uploader opened on a spool that holds batches sends them first, with the ``source_request_id``
each was first sent with, so mParticle's at-least-once duplicates stay recognisable.

The file is the standard library's ``sqlite3`` in WAL mode, used from one thread of its own
(never from the event loop). Writes from concurrent ``add`` calls are committed together.
Durability, ``durability=``:

- ``"process"`` (the default): ``add`` returns once the batch is committed
  (``synchronous=NORMAL``). A batch whose ``add`` returned survives the process being killed
  (SIGKILL, OOM, a crash); a power loss or an operating-system crash may lose the commits
  since the last checkpoint. About one commit per ``add`` for a worker that adds one batch at
  a time (concurrent ``add`` calls share commits).
- ``"machine"``: as ``"process"``, and each commit is fsynced (``synchronous=FULL``): a batch
  whose ``add`` returned survives a power loss too, at the cost of an fsync per commit.
- ``"interval"``: ``add`` returns at once; what was added is committed together every
  ``INTERVAL`` seconds (10 ms), and never sent before it is. A process killed loses the
  batches added in the last interval; ``Receipt.durable`` says whether a batch is in the file.
  The fast mode, for a worker that acknowledges on ``await receipt`` (acceptance) anyway.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from .. import _json
from ..errors import InvalidRequest
from .event_encoding import EncodedBatch

__all__ = ["Durability", "Spool"]

Durability = Literal["process", "machine", "interval"]
_SYNCHRONOUS = {"process": "NORMAL", "machine": "FULL", "interval": "NORMAL"}

#: Seconds the ``"interval"`` mode gathers batches before it commits them.
INTERVAL = 0.01

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source_request_id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL
)
"""


class Spool:
    """A SQLite file of batches not yet delivered (see the module's documentation)."""

    def __init__(self, path: str, *, durability: Durability = "process") -> None:
        if not isinstance(path, str) or not path:
            raise InvalidRequest(f"spool must be a file path, got {path!r}")
        if durability not in _SYNCHRONOUS:
            raise InvalidRequest(
                f"durability must be one of {', '.join(map(repr, _SYNCHRONOUS))}, "
                f"got {durability!r}"
            )
        self.path = path
        self.durability = durability
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._writes: list[tuple[EncodedBatch, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._forgetting: set[asyncio.Future[None]] = set()

    def __repr__(self) -> str:
        return f"Spool({self.path!r}, durability={self.durability!r})"

    async def _run(self, function: Any, *args: Any) -> Any:
        assert self._executor is not None, "open() the spool first"
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def open(self) -> list[EncodedBatch]:
        """Open (or create) the file; return the batches it holds, oldest first."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mp_async-spool")
        rows: list[tuple[str, bytes]] = await self._run(self._open_sync)
        found = []
        for source_request_id, body in rows:
            document = _json.loads(body)
            found.append(EncodedBatch(document, source_request_id, bytes(body)))
        return found

    def _open_sync(self) -> list[tuple[str, bytes]]:
        connection = sqlite3.connect(self.path, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={_SYNCHRONOUS[self.durability]}")
        connection.execute(_SCHEMA)
        self._connection = connection
        return connection.execute(
            "SELECT source_request_id, body FROM batches ORDER BY seq"
        ).fetchall()

    @property
    def waits(self) -> bool:
        """Whether ``put`` waits for the commit (every mode but ``"interval"``)."""
        return self.durability != "interval"

    def put(self, item: EncodedBatch) -> asyncio.Future[None]:
        """Write ``item``; the future is done once it is committed (with others gathered)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_all())
        return done

    async def _write_all(self) -> None:
        if not self.waits:
            await asyncio.sleep(INTERVAL)  # gather what is added meanwhile: one commit
        while self._writes:
            writes, self._writes = self._writes, []
            try:
                await self._run(self._insert_sync, [item for item, _ in writes])
            except BaseException as exc:
                for _, done in writes:
                    if not done.done():
                        done.set_exception(exc)
                        done.exception()  # retrieved: whoever awaits it still gets it raised
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, done in writes:
                    if not done.done():
                        done.set_result(None)

    def _insert_sync(self, items: list[EncodedBatch]) -> None:
        connection = self._connection
        assert connection is not None
        with connection:  # one transaction, one commit
            connection.execute("BEGIN")
            connection.executemany(
                "INSERT OR REPLACE INTO batches (source_request_id, body) VALUES (?, ?)",
                [(item.source_request_id, item.body) for item in items],
            )

    def forget(self, source_request_ids: Iterable[str]) -> None:
        """Remove these batches (delivered, or refused for good), in the background."""
        ids = [(source_request_id,) for source_request_id in source_request_ids]
        if not ids or self._executor is None:
            return
        if self._writes:  # not written yet: then never (a delete would run before the insert)
            gone = {source_request_id for (source_request_id,) in ids}
            kept = []
            for item, done in self._writes:
                if item.source_request_id in gone:
                    if not done.done():
                        done.set_result(None)
                else:
                    kept.append((item, done))
            self._writes = kept
        future = asyncio.ensure_future(self._run(self._delete_sync, ids))
        self._forgetting.add(future)
        future.add_done_callback(self._forgetting.discard)

    def _delete_sync(self, ids: list[tuple[str]]) -> None:
        connection = self._connection
        assert connection is not None
        with connection:
            connection.execute("BEGIN")
            connection.executemany("DELETE FROM batches WHERE source_request_id = ?", ids)

    async def count(self) -> int:
        """How many batches the file holds."""
        row = await self._run(
            lambda: self._connection.execute(  # type: ignore[union-attr]
                "SELECT count(*) FROM batches"
            ).fetchone()
        )
        return int(row[0])

    async def close(self) -> None:
        """Finish the writes and removals under way, then close the file."""
        if self._executor is None:
            return
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._forgetting:
            await asyncio.gather(*self._forgetting, return_exceptions=True)
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._run(connection.close)
        executor, self._executor = self._executor, None
        executor.shutdown(wait=True)

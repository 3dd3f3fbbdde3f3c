"""Batches as the bytes they are sent as: validated, given a ``source_request_id``, encoded
once, and grouped into bulk requests within the documented limits (100 batches, 256 KB)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from .. import _json
from ..converter import converter
from ..errors import ErrorDetail, InvalidRequest
from ..protocol import (
    EVENTS_MAX_BATCH_BYTES,
    EVENTS_MAX_BATCHES_PER_REQUEST,
    EVENTS_MAX_REQUEST_BYTES,
)
from .event_models import Batch, BatchLike, check_batch, check_historical, check_raw_event

__all__ = [
    "ChunkBuilder",
    "ChunkOutcome",
    "EncodedBatch",
    "FailedBatch",
    "UploadResult",
    "bulk_body",
    "chunk_batches",
    "encode_batch",
    "new_source_request_id",
]

_UUID_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


@attrs.frozen
class FailedBatch:
    """A batch that could not be delivered, and why; send ``batch`` again to retry it.

    ``batch`` carries the ``source_request_id`` its attempts were made with, so a second
    upload of it is recognisable as the same batch if the first did get through.
    """

    batch: Batch | dict[str, Any] = attrs.field(repr=False)
    error: Exception

    @property
    def source_request_id(self) -> str:
        """The id the batch was sent with."""
        batch = self.batch
        return str(
            batch.source_request_id if isinstance(batch, Batch) else batch["source_request_id"]
        )


@attrs.frozen
class UploadResult:
    """What ``upload_many`` did: batches sent, batches handed back, and what the server said.

    ``sent`` counts batches in requests the server accepted (202). A bulk request is accepted
    even when the server refuses some of its batches; what it says about those is in
    ``server_errors``.
    """

    sent: int = 0
    failed: tuple[FailedBatch, ...] = ()
    requests: int = 0
    server_errors: tuple[ErrorDetail, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every batch was sent and the server reported no error."""
        return not self.failed and not self.server_errors


class EncodedBatch:
    """A validated batch as the exact JSON bytes it is sent as, and what it was made from."""

    __slots__ = ("body", "original", "receipt", "source_request_id")

    def __init__(self, original: BatchLike, source_request_id: str, body: bytes) -> None:
        self.original = original
        self.source_request_id = source_request_id
        self.body = body
        #: What an uploader told the caller it would settle (``uploader.Receipt``), if any.
        self.receipt: Any = None

    def handed_back(self) -> Batch | dict[str, Any]:
        """The caller's batch, with the ``source_request_id`` it was sent with."""
        original = self.original
        if isinstance(original, Batch):
            if original.source_request_id == self.source_request_id:
                return original
            return attrs.evolve(original, source_request_id=self.source_request_id)
        return {**original, "source_request_id": self.source_request_id}


def new_source_request_id() -> str:
    """A fresh random (version 4) UUID, as text."""
    # str(uuid.uuid4()) builds a UUID object and an int on the way, three times the cost of
    # this; the uploader pays it once per batch. Drawn from the kernel for every batch, not
    # from a random prefix per process and a counter (under a third of the cost, tried): a
    # process copied without Python's fork hooks (uWSGI without py-call-osafterfork, a
    # restored VM or Lambda snapshot) would repeat its parent's ids, and mParticle would drop
    # the copy's batches as duplicates.
    digits = os.urandom(16).hex()
    return (
        f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
        f"{_UUID_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:]}"
    )


# Fetched once rather than found by the converter's dispatch for every batch.
_unstructure_batch = converter.get_unstructure_hook(Batch)


def encode_batch(
    batch: BatchLike, where: str = "batch", *, historical: bool = False
) -> EncodedBatch:
    """Validate ``batch``, give it a ``source_request_id`` if it has none, and serialise it once."""
    document: dict[str, Any]
    if isinstance(batch, Batch):
        document = _unstructure_batch(batch)
    elif isinstance(batch, Mapping):
        check_batch(
            where,
            batch.get("environment"),
            batch.get("user_identities"),
            batch.get("user_attributes"),
            batch.get("mpid"),
            batch.get("device_info"),
            batch.get("source_request_id"),
            batch.get("application_info"),
        )
        events = batch.get("events")
        if events is not None:
            if not isinstance(events, (list, tuple)):
                raise InvalidRequest(f"{where}.events must be a list of events")
            for index, event in enumerate(events):
                check_raw_event(f"{where}.events[{index}]", event)
        document = dict(batch)
    else:
        raise InvalidRequest(f"{where} must be a Batch or a mapping, got {type(batch).__name__}")
    if historical:
        check_historical(where, document, int(time.time() * 1000))
    source_request_id = document.get("source_request_id")
    if source_request_id is None:
        source_request_id = document["source_request_id"] = new_source_request_id()
    try:
        body = _json.dumps(document)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{where} cannot be sent as JSON: {exc}"[:300]) from None
    if len(body) > EVENTS_MAX_BATCH_BYTES:
        raise InvalidRequest(
            f"{where} is {len(body):,} bytes of JSON, over the documented limit of 128 KB "
            f"({EVENTS_MAX_BATCH_BYTES:,} bytes) per batch"
        )
    return EncodedBatch(batch, source_request_id, body)


class ChunkBuilder:
    """Groups encoded batches into bulk requests of at most ``max_count`` batches and 256 KB."""

    def __init__(self, max_count: int = EVENTS_MAX_BATCHES_PER_REQUEST) -> None:
        self._max_count = max_count
        self._items: list[EncodedBatch] = []
        self._size = 1  # "[" then, per batch, its bytes and a "," or the closing "]"

    def push(self, item: EncodedBatch) -> list[EncodedBatch] | None:
        """Add ``item``; return a chunk that is complete and must be sent, if there is one."""
        full = None
        if self._items and self._size + len(item.body) + 1 > EVENTS_MAX_REQUEST_BYTES:
            full = self.take()
        self._items.append(item)
        self._size += len(item.body) + 1
        # At most one chunk completes per push: one cut by size leaves a single batch behind.
        if len(self._items) >= self._max_count:
            full = self.take()
        return full

    def take(self) -> list[EncodedBatch]:
        """The batches gathered so far, as a chunk (possibly empty), and start a new one."""
        items, self._items, self._size = self._items, [], 1
        return items


def chunk_batches(
    items: Iterable[EncodedBatch], max_count: int = EVENTS_MAX_BATCHES_PER_REQUEST
) -> Iterator[list[EncodedBatch]]:
    """Encoded batches in chunks of at most ``max_count`` and 256 KB of request body."""
    builder = ChunkBuilder(max_count)
    for item in items:
        full = builder.push(item)
        if full:
            yield full
    last = builder.take()
    if last:
        yield last


def bulk_body(chunk: list[EncodedBatch]) -> bytes:
    """The request body for a chunk: its batches' bytes, as serialised, in a JSON array."""
    return b"[" + b",".join(item.body for item in chunk) + b"]"


@attrs.frozen
class ChunkOutcome:
    """How one bulk request ended: the error that failed it, or what its 202 reported."""

    error: Exception | None = None
    server_errors: tuple[ErrorDetail, ...] = ()

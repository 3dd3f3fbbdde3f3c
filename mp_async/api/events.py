"""The Events API (server to server): batches of events and profile updates, one or in bulk.

Delivery is at least once. The API has no idempotency key, so a request retried after a lost
reply can be ingested twice; every batch therefore carries a ``source_request_id`` (a fresh
UUID unless the caller set one), fixed before the first attempt and kept across retries, by
which duplicates can be recognised downstream.

The models live in ``event_models``, encoding and chunking in ``event_encoding``, the
background uploader in ``uploader``; their public names are re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from .._validate import require_int
from ..auth.base import AuthStrategy
from ..errors import (
    ErrorDetail,
    InvalidRequest,
    MParticleError,
    UploadAborted,
    parse_error_details,
)
from ..fanout import bounded_map
from ..hosts import Hosts
from ..protocol import EVENTS_PATH
from ..request import Request
from ..session import Session
from ._base import APIBase
from .event_encoding import (
    ChunkOutcome,
    EncodedBatch,
    FailedBatch,
    UploadResult,
    bulk_body,
    chunk_batches,
    encode_batch,
)
from .event_models import (
    ApplicationInfo,
    ApplicationStateTransitionEvent,
    Batch,
    BatchLike,
    BreadcrumbEvent,
    CommerceEvent,
    Consent,
    ConsentState,
    CrashReportEvent,
    CustomEvent,
    DeviceCurrentState,
    DeviceInfo,
    FirstRunEvent,
    Location,
    NetworkPerformanceEvent,
    OptOutEvent,
    Product,
    ProductAction,
    ProductImpression,
    ProfileEvent,
    Promotion,
    PromotionAction,
    PushMessageEvent,
    PushRegistrationEvent,
    ScreenViewEvent,
    SessionEndEvent,
    SessionStartEvent,
    UninstallEvent,
    UserAttributeChangeEvent,
    UserIdentityChangeEvent,
)
from .spool import Durability, Spool
from .uploader import BatchUploader, Receipt, UploaderOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "ApplicationInfo",
    "DeviceCurrentState",
    "DeviceInfo",
    "Location",
    "Consent",
    "ConsentState",
    "ApplicationStateTransitionEvent",
    "BreadcrumbEvent",
    "CrashReportEvent",
    "FirstRunEvent",
    "NetworkPerformanceEvent",
    "OptOutEvent",
    "ProfileEvent",
    "PushMessageEvent",
    "PushRegistrationEvent",
    "UninstallEvent",
    "UserAttributeChangeEvent",
    "UserIdentityChangeEvent",
    "Batch",
    "BatchLike",
    "BatchUploader",
    "CommerceEvent",
    "CustomEvent",
    "EventsAPI",
    "FailedBatch",
    "Product",
    "ProductAction",
    "ProductImpression",
    "Promotion",
    "PromotionAction",
    "Receipt",
    "ScreenViewEvent",
    "SessionEndEvent",
    "SessionStartEvent",
    "UploadAborted",
    "UploadResult",
    "UploadStopped",
    "encode_batch",
]

log = logging.getLogger("mp_async")

_JSON_HEADERS = {"Content-Type": "application/json"}


class EventsAPI(APIBase):
    """``POST /v2/events`` (one batch) and ``/v2/bulkevents`` (up to 100), with Basic auth."""

    needs = "Events API needs its key and secret: pass events_auth=BasicAuth(key, secret)"

    def __init__(
        self, session: Session, auth: AuthStrategy | None, hosts: Hosts | None = None
    ) -> None:
        super().__init__(session, auth, hosts)
        base = f"{self.hosts.events}{EVENTS_PATH}"
        self._events_url = f"{base}/events"
        self._bulk_url = f"{base}/bulkevents"
        self._historical_url = f"{base}/bulkevents/historical"

    def __repr__(self) -> str:
        return f"EventsAPI(url={self._bulk_url!r})"

    async def upload(self, batch: BatchLike) -> str:
        """Send one batch (``POST /v2/events``); returns the ``source_request_id`` it carried.

        Failures raise after the session's retries. To send a batch again after a failure
        with the same id, set ``source_request_id`` on it yourself.
        """
        auth = self._credentials()
        item = encode_batch(batch)
        request = Request(
            "POST",
            self._events_url,
            headers=_JSON_HEADERS,
            body=item.body,
            bucket="events",
            idempotent=True,  # at least once, as documented; the source_request_id marks repeats
        )
        await self._send(request, auth)
        return item.source_request_id

    async def upload_many(
        self,
        batches: Iterable[BatchLike],
        *,
        historical: bool = False,
        concurrency: int = 8,
    ) -> UploadResult:
        """Send every batch in bulk requests of at most 100 batches and 256 KB, ``concurrency``
        requests at a time, each retried by the session; failed batches come back in the result.

        A collection (a list, a tuple) is checked whole before anything is sent: one bad batch
        raises ``InvalidRequest`` and sends nothing. Any other iterable (a generator, a file
        being read) is streamed in constant memory: each batch is checked as it is read, and a
        bad one stops the reading; the requests already under way finish, and
        ``UploadStopped`` (an ``InvalidRequest``) is raised naming the batch, with ``result``
        saying what became of every batch before it. ``historical=True`` sends to
        ``/v2/bulkevents/historical`` (events at least 72 hours old).
        """
        require_int("concurrency", concurrency, 1)
        if not isinstance(batches, Iterable) or isinstance(batches, (str, bytes, Mapping)):
            raise InvalidRequest(
                "batches must be an iterable of Batch objects or mappings, got "
                f"{type(batches).__name__}"
            )
        self._credentials()
        stopped: list[InvalidRequest] = []
        if isinstance(batches, Collection):
            chunks: Iterable[list[EncodedBatch]] = chunk_batches(
                [
                    encode_batch(batch, f"batches[{index}]", historical=historical)
                    for index, batch in enumerate(batches)
                ]
            )
        else:
            chunks = _streamed_chunks(batches, historical, stopped)

        async def send(
            numbered: tuple[int, list[EncodedBatch]],
        ) -> tuple[int, list[EncodedBatch], ChunkOutcome]:
            index, chunk = numbered
            return index, chunk, await self.send_chunk(chunk, historical=historical)

        sent = requests = 0
        failed: list[tuple[int, list[EncodedBatch], Exception]] = []
        server_errors: list[ErrorDetail] = []
        # One worker pool for the package: fanout.bounded_map, which reads the chunks only as
        # workers free up, so a stream is never held whole. A chunk is let go once it is done.
        async for index, chunk, outcome in bounded_map(enumerate(chunks), send, concurrency):
            requests += 1
            if outcome.error is None:
                sent += len(chunk)
                server_errors.extend(outcome.server_errors)
            else:
                failed.append((index, chunk, outcome.error))
        failed.sort(key=lambda entry: entry[0])  # in the order the batches were given
        result = UploadResult(
            sent,
            tuple(
                FailedBatch(item.handed_back(), error)
                for _, chunk, error in failed
                for item in chunk
            ),
            requests,
            tuple(server_errors),
        )
        if stopped:
            raise UploadStopped(str(stopped[0]), result=result) from stopped[0]
        return result

    def uploader(
        self,
        *,
        spool: str | None = None,
        durability: Durability = "process",
        **options: Unpack[UploaderOptions],
    ) -> BatchUploader:
        """A ``BatchUploader`` on this API: ``async with api.uploader() as up: await up.add(b)``.

        ``spool="path"`` keeps every added batch in that SQLite file until it is delivered
        (``durability`` is ``"process"`` or ``"machine"``; see ``mp_async.api.spool``). Takes
        ``BatchUploader``'s keyword options, whose defaults are::

            uploader(*, max_batch=100, flush_interval=1.0, max_pending=10000, concurrency=8,
                     historical=False, on_failure=None, on_sent=None, cancel_timeout=5.0)
        """
        self._credentials()
        store = Spool(spool, durability=durability) if spool is not None else None
        return BatchUploader(self, spool=store, **options)

    async def send_chunk(self, chunk: list[EncodedBatch], *, historical: bool) -> ChunkOutcome:
        """Send one chunk as a bulk request; how it failed is returned, not raised."""
        url = self._historical_url if historical else self._bulk_url
        # At least once is the Events API's documented contract (source_request_id marks a
        # repeat), so a bulk request is retried like an idempotent one.
        request = Request(
            "POST",
            url,
            headers=_JSON_HEADERS,
            body=bulk_body(chunk),
            bucket="events",
            idempotent=True,
        )
        try:
            response = await self._send(request)
        except MParticleError as exc:
            return ChunkOutcome(error=exc)
        except Exception as exc:
            # Not an mp_async error: a bug, or a broken custom auth strategy. Raised, it would
            # cancel the other chunks and lose track of what was sent; hand the batches back
            # with it instead. (CancelledError is not an Exception: it propagates.)
            log.exception("uploading %d batches failed unexpectedly", len(chunk))
            return ChunkOutcome(error=exc)
        # A bulk request answers 202 even when some of its batches were refused; say so.
        return ChunkOutcome(
            server_errors=parse_error_details(response.body) if response.body else ()
        )


class UploadStopped(InvalidRequest):
    """A streamed ``upload_many`` met a bad batch and stopped reading there.

    ``result`` says what became of every batch before it (sent, or handed back in
    ``result.failed``); the bad batch and those after it were not sent.
    """

    def __init__(self, message: str, *, result: UploadResult) -> None:
        super().__init__(message)
        self.result = result


def _streamed_chunks(
    batches: Iterable[BatchLike], historical: bool, stopped: list[InvalidRequest]
) -> Iterator[list[EncodedBatch]]:
    """Chunks of ``batches``, encoded as they are read; the first bad one ends them, its error
    put in ``stopped``."""

    def encoded() -> Iterator[EncodedBatch]:
        for index, batch in enumerate(batches):
            try:
                yield encode_batch(batch, f"batches[{index}]", historical=historical)
            except InvalidRequest as exc:
                stopped.append(exc)
                return

    return chunk_batches(encoded())

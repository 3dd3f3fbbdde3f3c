"""The Events API (server to server): batches of events and profile updates, one or in bulk.

Delivery is at least once. The API has no idempotency key, so a request retried after a lost
reply can be ingested twice; every batch therefore carries a ``source_request_id`` (a fresh
UUID unless the caller set one), fixed before the first attempt and kept across retries, by
which duplicates can be recognised downstream.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs
from cattrs.gen import make_dict_unstructure_fn, override

from .. import _json, protocol
from ..auth.base import AuthStrategy
from ..converter import converter
from ..errors import (
    ErrorDetail,
    InvalidRequest,
    MissingCredentials,
    MParticleError,
    UploadAborted,
    parse_error_details,
)
from ..hosts import Hosts
from ..protocol import ENVIRONMENTS
from ..request import Request
from ..session import Session

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .uploader import BatchUploader, UploaderOptions

__all__ = [
    "CUSTOM_EVENT_TYPES",
    "MAX_BATCHES_PER_REQUEST",
    "MAX_BATCH_BYTES",
    "MAX_REQUEST_BYTES",
    "MAX_USER_ATTRIBUTES",
    "USER_IDENTITY_TYPES",
    "Batch",
    "BatchLike",
    "CustomEvent",
    "EventsAPI",
    "FailedBatch",
    "ScreenViewEvent",
    "UploadAborted",
    "UploadResult",
]

# Documented limits, kept with the other protocol facts (mp_async/protocol.py).
MAX_BATCHES_PER_REQUEST = protocol.EVENTS_MAX_BATCHES_PER_REQUEST
MAX_REQUEST_BYTES = protocol.EVENTS_MAX_REQUEST_BYTES
MAX_BATCH_BYTES = protocol.EVENTS_MAX_BATCH_BYTES
MAX_USER_ATTRIBUTES = protocol.EVENTS_MAX_USER_ATTRIBUTES
HISTORICAL_MIN_AGE_MS = protocol.EVENTS_HISTORICAL_MIN_AGE_MS
USER_IDENTITY_TYPES = protocol.EVENTS_USER_IDENTITY_TYPES
CUSTOM_EVENT_TYPES = protocol.EVENTS_CUSTOM_EVENT_TYPES

log = logging.getLogger("mp_async")

_MPID_MIN, _MPID_MAX = -(2**63), 2**63 - 1
_UUID_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
_JSON_HEADERS = {"Content-Type": "application/json"}


def _require_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f"from {low} to {high}" if high is not None else f">= {low}"
        raise InvalidRequest(f"{name} must be an integer {bounds}, got {value!r}")


def _require_seconds(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value > 0
        or (math.isinf(value))
    ):
        raise InvalidRequest(f"{name} must be a positive number of seconds, got {value!r}")


def _non_empty_str(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            f"{type(instance).__name__}.{attribute.name} must be a non-empty string"
        )


def _custom_event_type(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if value not in CUSTOM_EVENT_TYPES:
        raise InvalidRequest(
            f"CustomEvent.custom_event_type must be one of {', '.join(CUSTOM_EVENT_TYPES)}; "
            f"got {value!r}"
        )


@attrs.frozen
class CustomEvent:
    """An event of the application's own (``event_type`` ``custom_event``)."""

    event_name: str = attrs.field(validator=_non_empty_str)
    custom_event_type: str = attrs.field(default="other", validator=_custom_event_type)
    custom_attributes: Mapping[str, Any] | None = None
    custom_flags: Mapping[str, Any] | None = None
    timestamp_unixtime_ms: int | None = None
    source_message_id: str | None = None
    session_uuid: str | None = None


@attrs.frozen
class ScreenViewEvent:
    """A screen (or page) view (``event_type`` ``screen_view``)."""

    screen_name: str = attrs.field(validator=_non_empty_str)
    custom_attributes: Mapping[str, Any] | None = None
    custom_flags: Mapping[str, Any] | None = None
    timestamp_unixtime_ms: int | None = None
    source_message_id: str | None = None
    session_uuid: str | None = None


#: An event in a batch: typed, or a raw mapping in the documented JSON form.
Event: TypeAlias = CustomEvent | ScreenViewEvent | Mapping[str, Any]


@attrs.frozen
class Batch:
    """One user's batch: identities, attribute changes and events, in one environment.

    A batch without events is a profile update. Only ``environment`` is required (the Events
    API's schema); the user is named by ``user_identities``, an ``mpid``, or identities the raw
    form carries (``mp_deviceid``, ``partner_identities``, a device identity in
    ``device_info``). Raw event mappings (the documented ``{"event_type": ..., "data": {...}}``
    form) may stand beside the typed events.
    """

    environment: str
    user_identities: Mapping[str, str] | None = None
    user_attributes: Mapping[str, Any] | None = None
    deleted_user_attributes: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    events: tuple[Event, ...] = attrs.field(default=(), converter=tuple)
    mpid: int | None = None
    ip: str | None = None
    source_request_id: str | None = None
    timestamp_unixtime_ms: int | None = None
    device_info: Mapping[str, Any] | None = None
    application_info: Mapping[str, Any] | None = None

    def __attrs_post_init__(self) -> None:
        _check_batch(
            "Batch",
            self.environment,
            self.user_identities,
            self.user_attributes,
            self.mpid,
            self.device_info,
            self.source_request_id,
        )
        for index, event in enumerate(self.events):
            if not isinstance(event, (CustomEvent, ScreenViewEvent)):
                _check_raw_event(f"Batch.events[{index}]", event)


#: What the upload calls take: a ``Batch``, or a mapping in the documented JSON form.
BatchLike: TypeAlias = Batch | Mapping[str, Any]


def _as_is(value: Any) -> Any:
    return value


def _event_hook(
    event_type: str, cls: type[Any], **required: Any
) -> Callable[[Any], dict[str, Any]]:
    data = make_dict_unstructure_fn(
        cls,
        converter,
        _cattrs_omit_if_default=True,
        custom_attributes=override(unstruct_hook=_as_is),
        custom_flags=override(unstruct_hook=_as_is),
        **required,
    )
    return lambda event: {"event_type": event_type, "data": data(event)}


def _events_json(events: tuple[Event, ...]) -> list[Any]:
    return [e if isinstance(e, Mapping) else converter.unstructure(e) for e in events]


# Optional fields left at their default (None, empty) are left out of the JSON; a required
# field goes out whatever its value (custom_event_type "other" included: the JSON Reference,
# schema and OpenAPI file all require it). Mappings the caller gave are JSON already and pass
# through as they are.
converter.register_unstructure_hook(
    CustomEvent,
    _event_hook("custom_event", CustomEvent, custom_event_type=override(omit_if_default=False)),
)
converter.register_unstructure_hook(ScreenViewEvent, _event_hook("screen_view", ScreenViewEvent))
converter.register_unstructure_hook(
    Batch,
    make_dict_unstructure_fn(
        Batch,
        converter,
        _cattrs_omit_if_default=True,
        user_identities=override(unstruct_hook=_as_is),
        user_attributes=override(unstruct_hook=_as_is),
        deleted_user_attributes=override(unstruct_hook=list),
        events=override(unstruct_hook=_events_json),
        device_info=override(unstruct_hook=_as_is),
        application_info=override(unstruct_hook=_as_is),
    ),
)


def _check_batch(
    where: str,
    environment: object,
    user_identities: object,
    user_attributes: object,
    mpid: object,
    device_info: object,
    source_request_id: object,
) -> None:
    """The checks every batch passes, typed or raw; raises InvalidRequest naming the field."""
    if environment not in ENVIRONMENTS:
        raise InvalidRequest(
            f"{where}.environment is required, one of {', '.join(ENVIRONMENTS)}; got {environment!r}"
        )
    if user_identities is not None:
        if not isinstance(user_identities, Mapping):
            raise InvalidRequest(f"{where}.user_identities must be a mapping of type -> value")
        unknown = sorted(str(k) for k in user_identities if k not in USER_IDENTITY_TYPES)
        if unknown:
            raise InvalidRequest(
                f"{where}.user_identities: {', '.join(map(repr, unknown))} is not a documented "
                f"identity type; allowed: {', '.join(sorted(USER_IDENTITY_TYPES))}"
            )
    if user_attributes is not None:
        if not isinstance(user_attributes, Mapping):
            raise InvalidRequest(f"{where}.user_attributes must be a mapping of name -> value")
        if len(user_attributes) > MAX_USER_ATTRIBUTES:
            raise InvalidRequest(
                f"{where}.user_attributes has {len(user_attributes)} attributes, over the "
                f"documented limit of {MAX_USER_ATTRIBUTES} per batch"
            )
    if mpid is not None and (
        isinstance(mpid, bool) or not isinstance(mpid, int) or not _MPID_MIN <= mpid <= _MPID_MAX
    ):
        raise InvalidRequest(f"{where}.mpid must be a signed 64-bit integer, got {mpid!r}")
    if device_info is not None and not isinstance(device_info, Mapping):
        raise InvalidRequest(f"{where}.device_info must be a mapping")
    if source_request_id is not None and (
        not isinstance(source_request_id, str) or not source_request_id
    ):
        raise InvalidRequest(f"{where}.source_request_id must be a non-empty string")
    # Which identities a batch carries is not checked: the Events API's schema requires only
    # ``environment``, and a batch may name its user by user_identities, mpid, mp_deviceid,
    # partner_identities or a device identity in device_info.


def _check_raw_event(where: str, event: object) -> None:
    if not isinstance(event, Mapping) or not isinstance(event.get("event_type"), str):
        raise InvalidRequest(
            f"{where} must be a CustomEvent, a ScreenViewEvent, or a mapping with an "
            f"'event_type' and 'data'; got {type(event).__name__}"
        )


def _check_historical(where: str, document: Mapping[str, Any], now_ms: int) -> None:
    # /v2/bulkevents/historical: every batch must carry events, each with a
    # timestamp_unixtime_ms at least 72 hours old (Events API reference).
    events = document.get("events")
    if not events:
        raise InvalidRequest(f"{where}: a historical batch must carry events")
    newest_allowed = now_ms - HISTORICAL_MIN_AGE_MS
    for index, event in enumerate(events):
        data = event.get("data") if isinstance(event, Mapping) else None
        stamp = data.get("timestamp_unixtime_ms") if isinstance(data, Mapping) else None
        if isinstance(stamp, bool) or not isinstance(stamp, int) or stamp > newest_allowed:
            raise InvalidRequest(
                f"{where}.events[{index}].timestamp_unixtime_ms must be at least 72 hours old "
                f"for the historical endpoint; got {stamp!r}"
            )


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

    __slots__ = ("body", "original", "source_request_id")

    def __init__(self, original: BatchLike, source_request_id: str, body: bytes) -> None:
        self.original = original
        self.source_request_id = source_request_id
        self.body = body

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
    # this; the uploader pays it once per batch.
    digits = os.urandom(16).hex()
    return (
        f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
        f"{_UUID_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:]}"
    )


def encode_batch(
    batch: BatchLike, where: str = "batch", *, historical: bool = False
) -> EncodedBatch:
    """Validate ``batch``, give it a ``source_request_id`` if it has none, and serialise it once."""
    document: dict[str, Any]
    if isinstance(batch, Batch):
        document = converter.unstructure(batch)
    elif isinstance(batch, Mapping):
        _check_batch(
            where,
            batch.get("environment"),
            batch.get("user_identities"),
            batch.get("user_attributes"),
            batch.get("mpid"),
            batch.get("device_info"),
            batch.get("source_request_id"),
        )
        events = batch.get("events")
        if events is not None:
            if not isinstance(events, (list, tuple)):
                raise InvalidRequest(f"{where}.events must be a list of events")
            for index, event in enumerate(events):
                _check_raw_event(f"{where}.events[{index}]", event)
        document = dict(batch)
    else:
        raise InvalidRequest(f"{where} must be a Batch or a mapping, got {type(batch).__name__}")
    if historical:
        _check_historical(where, document, int(time.time() * 1000))
    source_request_id = document.get("source_request_id")
    if source_request_id is None:
        source_request_id = document["source_request_id"] = new_source_request_id()
    try:
        body = _json.dumps(document)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{where} cannot be sent as JSON: {exc}"[:300]) from None
    if len(body) > MAX_BATCH_BYTES:
        raise InvalidRequest(
            f"{where} is {len(body):,} bytes of JSON, over the documented limit of 128 KB "
            f"({MAX_BATCH_BYTES:,} bytes) per batch"
        )
    return EncodedBatch(batch, source_request_id, body)


class ChunkBuilder:
    """Groups encoded batches into bulk requests of at most ``max_count`` batches and 256 KB."""

    def __init__(self, max_count: int = MAX_BATCHES_PER_REQUEST) -> None:
        self._max_count = max_count
        self._items: list[EncodedBatch] = []
        self._size = 1  # "[" then, per batch, its bytes and a "," or the closing "]"

    def push(self, item: EncodedBatch) -> list[EncodedBatch] | None:
        """Add ``item``; return a chunk that is complete and must be sent, if there is one."""
        full = None
        if self._items and self._size + len(item.body) + 1 > MAX_REQUEST_BYTES:
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
    items: Iterable[EncodedBatch], max_count: int = MAX_BATCHES_PER_REQUEST
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


class EventsAPI:
    """``POST /v2/events`` (one batch) and ``/v2/bulkevents`` (up to 100), with Basic auth."""

    def __init__(
        self, session: Session, auth: AuthStrategy | None, hosts: Hosts | None = None
    ) -> None:
        self._session = session
        self._auth = auth
        base = (hosts or Hosts.us1()).events
        self._events_url = f"{base}/v2/events"
        self._bulk_url = f"{base}/v2/bulkevents"
        self._historical_url = f"{base}/v2/bulkevents/historical"

    def __repr__(self) -> str:
        return f"EventsAPI(url={self._bulk_url!r})"

    def _credentials(self) -> AuthStrategy:
        if self._auth is None:
            raise MissingCredentials(
                "the Events API needs its key and secret: pass events_auth=BasicAuth(key, secret)"
            )
        return self._auth

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
            api="events",
            idempotent=True,  # at least once, as documented; the source_request_id marks repeats
        )
        await self._session.send(request, auth)
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

        Every batch is validated before anything is sent: one bad batch raises
        ``InvalidRequest`` and sends nothing. ``historical=True`` sends to
        ``/v2/bulkevents/historical`` (events at least 72 hours old).
        """
        _require_int("concurrency", concurrency, 1)
        if not isinstance(batches, Iterable) or isinstance(batches, (str, bytes, Mapping)):
            raise InvalidRequest(
                "batches must be an iterable of Batch objects or mappings, got "
                f"{type(batches).__name__}"
            )
        self._credentials()
        items = [
            encode_batch(batch, f"batches[{index}]", historical=historical)
            for index, batch in enumerate(batches)
        ]
        chunks = list(chunk_batches(items))
        outcomes: list[ChunkOutcome | None] = [None] * len(chunks)
        pending = iter(range(len(chunks)))

        async def worker() -> None:
            for index in pending:
                outcomes[index] = await self._send_chunk(chunks[index], historical=historical)

        workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(chunks)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

        sent = 0
        failed: list[FailedBatch] = []
        server_errors: list[ErrorDetail] = []
        for chunk, outcome in zip(chunks, outcomes, strict=True):
            assert outcome is not None
            if outcome.error is None:
                sent += len(chunk)
                server_errors.extend(outcome.server_errors)
            else:
                failed.extend(FailedBatch(item.handed_back(), outcome.error) for item in chunk)
        return UploadResult(sent, tuple(failed), len(chunks), tuple(server_errors))

    def uploader(self, **options: Unpack[UploaderOptions]) -> BatchUploader:
        """A ``BatchUploader`` on this API: ``async with api.uploader() as up: await up.add(b)``.

        Takes ``BatchUploader``'s keyword options, whose defaults are::

            uploader(*, max_batch=100, flush_interval=1.0, max_pending=10000, concurrency=8,
                     historical=False, on_failure=None, cancel_timeout=5.0)
        """
        self._credentials()
        from .uploader import BatchUploader  # the uploader builds on this module

        return BatchUploader(self, **options)

    async def _send_chunk(self, chunk: list[EncodedBatch], *, historical: bool) -> ChunkOutcome:
        """Send one chunk as a bulk request; how it failed is returned, not raised."""
        url = self._historical_url if historical else self._bulk_url
        # At least once is the Events API's documented contract (source_request_id marks a
        # repeat), so a bulk request is retried like an idempotent one.
        request = Request(
            "POST", url, headers=_JSON_HEADERS, body=bulk_body(chunk), api="events", idempotent=True
        )
        try:
            response = await self._session.send(request, self._credentials())
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

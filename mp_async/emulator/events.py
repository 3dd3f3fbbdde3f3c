"""The emulated Events API: one batch, bulk (up to 100 batches), and bulk historical.

Basic auth with the state's API key and secret; the documented limits (100 batches and
256 KB per request, 128 KB and 100 user attributes per batch); 202 on success. A bulk
request is answered 202 even when some of its batches are refused, as mParticle does, with
the refusals in ``errors``. Accepted batches are kept in ``state.event_batches``.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections import Counter
from typing import Any

from aiohttp import web

from ..protocol import (
    ENVIRONMENTS,
    EVENTS_HISTORICAL_MIN_AGE_MS,
    EVENTS_MAX_BATCH_BYTES,
    EVENTS_MAX_BATCHES_PER_REQUEST,
    EVENTS_MAX_REQUEST_BYTES,
    EVENTS_MAX_USER_ATTRIBUTES,
    EVENTS_PATH,
)
from .replies import STATE, json_reply, reject
from .state import EmulatorState

__all__ = ["add_routes", "duplicate_count", "source_request_ids"]


def source_request_ids(state: EmulatorState) -> Counter[str | None]:
    """How many accepted batches carried each ``source_request_id``."""
    return Counter(batch.get("source_request_id") for batch in state.event_batches)


def duplicate_count(state: EmulatorState) -> int:
    """Accepted batches whose ``source_request_id`` an earlier accepted batch already had."""
    return sum(count - 1 for count in source_request_ids(state).values())


def _check_auth(request: web.Request) -> None:
    """Return if the request carries the state's Basic credentials; else raise the 401/403."""
    state = request.app[STATE]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not token:
        raise reject(401, "UNAUTHORIZED", "Basic authentication with an API key is required")
    expected = base64.b64encode(f"{state.api_key}:{state.api_secret}".encode()).decode()
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise reject(403, "FORBIDDEN", "the API key or secret is not valid")


#: ``custom_event_type`` values mParticle's sources document: the JSON Reference's list
#: (mParticle/docs src/pages/developers/server/json-reference/index.md, with ``attribution``),
#: the JSON schema's enum (static/schema/mparticle.inbound.eventsapi.schema.json, with
#: ``media``) and the official Python package's (mparticle.models.AppEvent, with ``unknown``).
#: The emulator keeps its own list, from those sources, so that it checks the client.
_CUSTOM_EVENT_TYPES = frozenset(
    {
        "attribution", "location", "media", "navigation", "search", "social", "transaction",
        "user_content", "user_preference", "other", "unknown",
    }
)  # fmt: skip


def _custom_event_problem(event: dict[str, Any]) -> str | None:
    # The schema's CustomEvent requires event_name and custom_event_type.
    if event.get("event_type") != "custom_event":
        return None
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("event_name"), str):
        return "a custom event needs data.event_name"
    if data.get("custom_event_type") not in _CUSTOM_EVENT_TYPES:
        return "a custom event needs data.custom_event_type, one of " + ", ".join(
            sorted(_CUSTOM_EVENT_TYPES)
        )
    return None


def _refusal(batch: Any, historical: bool, measure: bool) -> tuple[int, str] | None:
    """Why ``batch`` is refused (a status and a message), or None when it is accepted.

    Returned rather than raised: in a bulk request one batch's refusal is reported beside the
    others' acceptance.

    ``measure`` checks the batch's size; a batch from a body within the batch limit is within
    it without measuring.
    """
    if not isinstance(batch, dict):
        return 400, "a batch must be a JSON object"
    if batch.get("environment") not in ENVIRONMENTS:
        return 400, "environment must be production or development"
    attributes = batch.get("user_attributes")
    if isinstance(attributes, dict) and len(attributes) > EVENTS_MAX_USER_ATTRIBUTES:
        return 400, f"more than {EVENTS_MAX_USER_ATTRIBUTES} user attributes"
    events = batch.get("events") or []
    if not isinstance(events, list) or not all(
        isinstance(e, dict) and isinstance(e.get("event_type"), str) for e in events
    ):
        return 400, 'every event needs an "event_type"'
    for index, event in enumerate(events):
        problem = _custom_event_problem(event)
        if problem:
            return 400, f"events[{index}]: {problem}"
    if measure:
        # A batch's own bytes are not at hand within a larger body: re-encode it compactly,
        # as clients send it.
        size = len(json.dumps(batch, separators=(",", ":"), ensure_ascii=False).encode())
        if size > EVENTS_MAX_BATCH_BYTES:
            return 413, f"the batch is over {EVENTS_MAX_BATCH_BYTES} bytes"
    if historical:
        newest = time.time() * 1000 - EVENTS_HISTORICAL_MIN_AGE_MS
        stamps = [(e.get("data") or {}).get("timestamp_unixtime_ms") for e in events]
        if not stamps or not all(isinstance(s, int) and s <= newest for s in stamps):
            return 400, "historical events need timestamp_unixtime_ms at least 72 hours old"
    return None


async def _read(request: web.Request, limit: int) -> tuple[Any, int]:
    """The decoded body and its length in bytes as received; else raise the 413 or 400."""
    body = await request.read()
    if len(body) > limit:
        raise reject(413, "PAYLOAD_TOO_LARGE", f"the body is over {limit} bytes")
    try:
        return json.loads(body), len(body)
    except ValueError:
        raise reject(400, "BAD_REQUEST", "the body is not valid JSON") from None


async def upload_batch(request: web.Request) -> web.Response:
    """``POST /v2/events``: one batch."""
    _check_auth(request)
    # The body is the batch: read within the batch limit, it needs no measuring.
    batch, _ = await _read(request, EVENTS_MAX_BATCH_BYTES)
    refused = _refusal(batch, historical=False, measure=False)
    if refused:
        status, message = refused
        raise reject(status, "BAD_REQUEST" if status == 400 else "PAYLOAD_TOO_LARGE", message)
    request.app[STATE].event_batches.append(batch)
    return web.Response(status=202)


async def _bulk(request: web.Request, historical: bool) -> web.Response:
    _check_auth(request)
    batches, size = await _read(request, EVENTS_MAX_REQUEST_BYTES)
    # Every batch in a body within the batch limit is within it too.
    measure = size > EVENTS_MAX_BATCH_BYTES
    if not isinstance(batches, list) or not batches:
        raise reject(400, "BAD_REQUEST", "the body must be a non-empty array of batches")
    if len(batches) > EVENTS_MAX_BATCHES_PER_REQUEST:
        raise reject(
            400, "BAD_REQUEST", f"at most {EVENTS_MAX_BATCHES_PER_REQUEST} batches per request"
        )
    accepted = request.app[STATE].event_batches
    errors = []
    for index, batch in enumerate(batches):
        refused = _refusal(batch, historical, measure)
        if refused:
            errors.append({"code": "BAD_REQUEST", "message": f"batch {index}: {refused[1]}"})
        else:
            accepted.append(batch)
    return json_reply({"errors": errors}, 202) if errors else web.Response(status=202)


async def bulk_upload(request: web.Request) -> web.Response:
    """``POST /v2/bulkevents``: up to 100 batches."""
    return await _bulk(request, historical=False)


async def bulk_upload_historical(request: web.Request) -> web.Response:
    """``POST /v2/bulkevents/historical``: up to 100 batches of events 72 hours old or older."""
    return await _bulk(request, historical=True)


def add_routes(app: web.Application) -> None:
    """Register the Events API's routes (under ``/events``, where ``Hosts.local`` puts them)."""
    prefix = f"/events{EVENTS_PATH}"
    app.router.add_post(f"{prefix}/events", upload_batch, name="events.upload")
    app.router.add_post(f"{prefix}/bulkevents", bulk_upload, name="events.bulk")
    app.router.add_post(
        f"{prefix}/bulkevents/historical", bulk_upload_historical, name="events.historical"
    )

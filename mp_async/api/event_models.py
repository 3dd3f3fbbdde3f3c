"""The Events API's batch and event models, and the checks every batch passes, typed or raw.

What the checks follow: the Events API's JSON schema and JSON Reference (see the facts and
their sources in ``mp_async/protocol.py``). A batch that breaks one raises ``InvalidRequest``
naming the batch, the event index and the field, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

import attrs
from cattrs.gen import make_dict_unstructure_fn, override

from .._validate import MPID_MAX, MPID_MIN, non_empty
from ..converter import converter
from ..errors import InvalidRequest
from ..protocol import (
    ENVIRONMENTS,
    EVENTS_CUSTOM_EVENT_TYPES,
    EVENTS_HISTORICAL_MIN_AGE_MS,
    EVENTS_MAX_USER_ATTRIBUTES,
    EVENTS_USER_IDENTITY_TYPES,
    CustomEventType,
    Environment,
)

__all__ = [
    "Batch",
    "BatchLike",
    "CustomEvent",
    "Event",
    "ScreenViewEvent",
    "check_batch",
    "check_historical",
    "check_raw_event",
]


def _custom_event_type(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if value not in EVENTS_CUSTOM_EVENT_TYPES:
        raise InvalidRequest(
            f"CustomEvent.custom_event_type must be one of {', '.join(EVENTS_CUSTOM_EVENT_TYPES)}; "
            f"got {value!r}"
        )


@attrs.frozen
class CustomEvent:
    """An event of the application's own (``event_type`` ``custom_event``)."""

    event_name: str = attrs.field(validator=non_empty)
    custom_event_type: CustomEventType = attrs.field(default="other", validator=_custom_event_type)
    custom_attributes: Mapping[str, Any] | None = None
    custom_flags: Mapping[str, Any] | None = None
    timestamp_unixtime_ms: int | None = None
    source_message_id: str | None = None
    session_uuid: str | None = None


@attrs.frozen
class ScreenViewEvent:
    """A screen (or page) view (``event_type`` ``screen_view``)."""

    screen_name: str = attrs.field(validator=non_empty)
    custom_attributes: Mapping[str, Any] | None = None
    custom_flags: Mapping[str, Any] | None = None
    timestamp_unixtime_ms: int | None = None
    source_message_id: str | None = None
    session_uuid: str | None = None


#: An event in a batch: typed, or a raw mapping in the documented JSON form.
Event: TypeAlias = CustomEvent | ScreenViewEvent | Mapping[str, Any]


# Typed converters: ``converter=tuple`` would make the parameters ``Iterable[_T_co]`` for a
# type checker, and every list a user passes an error under ``mypy --strict``.
def _events(events: Iterable[Event]) -> tuple[Event, ...]:
    return tuple(events)


def _names(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(names)


@attrs.frozen
class Batch:
    """One user's batch: identities, attribute changes and events, in one environment.

    A batch without events is a profile update. Only ``environment`` is required (the Events
    API's schema); the user is named by ``user_identities``, an ``mpid``, or identities the raw
    form carries (``mp_deviceid``, ``partner_identities``, a device identity in
    ``device_info``). Raw event mappings (the documented ``{"event_type": ..., "data": {...}}``
    form) may stand beside the typed events.
    """

    environment: Environment
    user_identities: Mapping[str, str] | None = None
    user_attributes: Mapping[str, Any] | None = None
    deleted_user_attributes: tuple[str, ...] = attrs.field(default=(), converter=_names)
    events: tuple[Event, ...] = attrs.field(default=(), converter=_events)
    mpid: int | None = None
    ip: str | None = None
    source_request_id: str | None = None
    timestamp_unixtime_ms: int | None = None
    device_info: Mapping[str, Any] | None = None
    application_info: Mapping[str, Any] | None = None

    def __attrs_post_init__(self) -> None:
        check_batch(
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
                check_raw_event(f"Batch.events[{index}]", event)


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


def check_batch(
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
        unknown = sorted(str(k) for k in user_identities if k not in EVENTS_USER_IDENTITY_TYPES)
        if unknown:
            raise InvalidRequest(
                f"{where}.user_identities: {', '.join(map(repr, unknown))} is not a documented "
                f"identity type; allowed: {', '.join(sorted(EVENTS_USER_IDENTITY_TYPES))}"
            )
    if user_attributes is not None:
        if not isinstance(user_attributes, Mapping):
            raise InvalidRequest(f"{where}.user_attributes must be a mapping of name -> value")
        if len(user_attributes) > EVENTS_MAX_USER_ATTRIBUTES:
            raise InvalidRequest(
                f"{where}.user_attributes has {len(user_attributes)} attributes, over the "
                f"documented limit of {EVENTS_MAX_USER_ATTRIBUTES} per batch"
            )
    if mpid is not None and (
        isinstance(mpid, bool) or not isinstance(mpid, int) or not MPID_MIN <= mpid <= MPID_MAX
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


def check_raw_event(where: str, event: object) -> None:
    if not isinstance(event, Mapping) or not isinstance(event.get("event_type"), str):
        raise InvalidRequest(
            f"{where} must be a CustomEvent, a ScreenViewEvent, or a mapping with an "
            f"'event_type' and 'data'; got {type(event).__name__}"
        )


def check_historical(where: str, document: Mapping[str, Any], now_ms: int) -> None:
    # /v2/bulkevents/historical: every batch must carry events, each with a
    # timestamp_unixtime_ms at least 72 hours old (Events API reference).
    events = document.get("events")
    if not events:
        raise InvalidRequest(f"{where}: a historical batch must carry events")
    newest_allowed = now_ms - EVENTS_HISTORICAL_MIN_AGE_MS
    for index, event in enumerate(events):
        data = event.get("data") if isinstance(event, Mapping) else None
        stamp = data.get("timestamp_unixtime_ms") if isinstance(data, Mapping) else None
        if isinstance(stamp, bool) or not isinstance(stamp, int) or stamp > newest_allowed:
            raise InvalidRequest(
                f"{where}.events[{index}].timestamp_unixtime_ms must be at least 72 hours old "
                f"for the historical endpoint; got {stamp!r}"
            )

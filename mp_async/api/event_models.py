"""The Events API's batch and event models, and the checks every batch passes, typed or raw.

What the checks follow: the Events API's JSON schema and JSON Reference (see the facts and
their sources in ``mp_async/protocol.py``). A batch that breaks one raises ``InvalidRequest``
naming the batch, the event index and the field, before anything is sent.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

import attrs
from cattrs.gen import make_dict_unstructure_fn, override

from .._validate import MPID_MAX, MPID_MIN, non_empty
from ..converter import converter
from ..errors import InvalidRequest
from ..protocol import (
    ENVIRONMENTS,
    EVENTS_APPLICATION_OSES,
    EVENTS_APPLICATION_TRANSITIONS,
    EVENTS_ATT_AUTHORIZATION_STATUSES,
    EVENTS_CUSTOM_EVENT_TYPES,
    EVENTS_DATA_CONNECTION_TYPES,
    EVENTS_DEVICE_ORIENTATIONS,
    EVENTS_DEVICE_PLATFORMS,
    EVENTS_DEVICE_UUID_FIELDS,
    EVENTS_EVENT_TYPES,
    EVENTS_GPS_STATES,
    EVENTS_HISTORICAL_MIN_AGE_MS,
    EVENTS_LOCATION_SOURCES,
    EVENTS_MAX_ACTION_IDENTIFIER_LENGTH,
    EVENTS_MAX_USER_ATTRIBUTES,
    EVENTS_PRODUCT_ACTIONS,
    EVENTS_PROFILE_EVENT_TYPES,
    EVENTS_PROMOTION_ACTIONS,
    EVENTS_PUSH_APPLICATION_STATES,
    EVENTS_PUSH_MESSAGE_TYPES,
    EVENTS_USER_IDENTITY_TYPES,
    ApplicationOS,
    ApplicationTransitionType,
    AttAuthorizationStatus,
    CustomEventType,
    DataConnectionType,
    DeviceOrientation,
    DevicePlatform,
    Environment,
    GpsState,
    ProductActionType,
    ProfileEventType,
    PromotionActionType,
    PushApplicationState,
    PushMessageType,
)

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
    "CommerceEvent",
    "CustomEvent",
    "Event",
    "Product",
    "ProductAction",
    "ProductImpression",
    "Promotion",
    "PromotionAction",
    "ScreenViewEvent",
    "SessionEndEvent",
    "SessionStartEvent",
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


# --- Field rules -------------------------------------------------------------------------
# One rule per documented constraint, shared by the typed models (checked once, at
# construction) and the raw mappings (checked before sending), so that both meet the same
# rules. A rule gets the field's value (None when it is absent) and says what is wrong with
# it, or returns None.

Rule: TypeAlias = Callable[[Any], "str | None"]


def _enum(allowed: tuple[str, ...], *, required: bool = False) -> Rule:
    listed = ", ".join(allowed)
    values = frozenset(allowed)

    def problem(value: Any) -> str | None:
        if value is None and not required:
            return None
        if isinstance(value, str) and value in values:
            return None
        return f"must be one of {listed}; got {value!r}"

    return problem


def _required_text(value: Any) -> str | None:
    if value is None:
        return "is required"
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"  # the value is not echoed: it may be a token
    return None


def _required_bool(value: Any) -> str | None:
    if value is None:
        return "is required"
    return None if isinstance(value, bool) else f"must be true or false; got {value!r}"


def _text_up_to(limit: int) -> Rule:
    def problem(value: Any) -> str | None:
        if value is None or (isinstance(value, str) and len(value) <= limit):
            return None
        if not isinstance(value, str):
            return f"must be a string; got {type(value).__name__}"
        return f"has {len(value)} characters, over the documented limit of {limit}"

    return problem


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


def _guid(value: Any) -> str | None:
    # "" is what the JSON Reference's own examples send for an id the device does not have.
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if _UUID.match(value):  # the JSON schema's Uuid pattern
            return None
        try:
            uuid.UUID(value)  # what the official package accepts (32 digits, braces ...)
        except ValueError:
            pass
        else:
            return None
    # An advertising id is personal data: say what was wrong, not what it was.
    got = f"{len(value)} characters" if isinstance(value, str) else type(value).__name__
    return f"must be a UUID (GUID), 8-4-4-4-12 hex digits; got {got}"


def _coordinate(limit: float) -> Rule:
    def problem(value: Any) -> str | None:
        if value is None or (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and -limit <= value <= limit  # NaN fails both comparisons
        ):
            return None
        return f"must be a number from {-limit:g} to {limit:g}; got {value!r}"

    return problem


def _finite_number(value: Any) -> str | None:
    if value is None or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ):
        return None
    return f"must be a finite number; got {value!r}"


def _orientation(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value in EVENTS_DEVICE_ORIENTATIONS):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return None  # the platform's own number, as the JSON Reference's master sample sends
    return f"must be one of {', '.join(EVENTS_DEVICE_ORIENTATIONS)} or an integer; got {value!r}"


def _gps_state(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str) and value in EVENTS_GPS_STATES:
        return None
    return f"must be a boolean or one of {', '.join(EVENTS_GPS_STATES)}; got {value!r}"


def _check_fields(
    where: str, rules: Mapping[str, Rule], values: Mapping[str, Any], node: str = ""
) -> None:
    """Check a raw mapping's fields against ``rules``; raise naming the first bad one
    (``where`` and ``node`` are joined only then: this runs for every raw event)."""
    for name, rule in rules.items():
        problem = rule(values.get(name))
        if problem is not None:
            raise InvalidRequest(f"{where}{node}.{name} {problem}")


def _rule(rule: Rule) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    """An attrs validator applying ``rule`` to one field."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        problem = rule(value)
        if problem is not None:
            raise InvalidRequest(f"{type(instance).__name__}.{attribute.name} {problem}")

    return check


def _check_model(model: object, rules: Mapping[str, Rule]) -> None:
    for name, rule in rules.items():
        problem = rule(getattr(model, name))
        if problem is not None:
            raise InvalidRequest(f"{type(model).__name__}.{name} {problem}")


# The rules of the JSON Reference's device_info, application_info, location and
# device_current_state, with their sources in mp_async/protocol.py.
_DEVICE_INFO_RULES: dict[str, Rule] = {
    "platform": _enum(EVENTS_DEVICE_PLATFORMS),
    "att_authorization_status": _enum(EVENTS_ATT_AUTHORIZATION_STATUSES),
    **dict.fromkeys(EVENTS_DEVICE_UUID_FIELDS, _guid),
}
_APPLICATION_INFO_RULES: dict[str, Rule] = {"os": _enum(EVENTS_APPLICATION_OSES)}
_LOCATION_RULES: dict[str, Rule] = {
    "latitude": _coordinate(90),
    "longitude": _coordinate(180),
    # Not bounded: iOS reports a negative accuracy for a location it could not fix.
    "accuracy": _finite_number,
}
# The JSON Reference's location also lists enriched fields (country_code, city_name ...);
# of those only location_source is an enumeration, checked when a raw mapping carries it.
_RAW_LOCATION_RULES: dict[str, Rule] = {
    **_LOCATION_RULES,
    "location_source": _enum(EVENTS_LOCATION_SOURCES),
}
_DEVICE_CURRENT_STATE_RULES: dict[str, Rule] = {
    "data_connection_type": _enum(EVENTS_DATA_CONNECTION_TYPES),
    "gps_state": _gps_state,
    "device_orientation": _orientation,
    "status_bar_orientation": _orientation,
}


def _check_part(where: str, value: object, model: type[Any], rules: Mapping[str, Rule]) -> None:
    """A part given as a model was checked when it was made; a raw mapping is checked here."""
    if value is None or isinstance(value, model):
        return
    if not isinstance(value, Mapping):
        raise InvalidRequest(
            f"{where} must be a {model.__name__} or a mapping; got {type(value).__name__}"
        )
    _check_fields(where, rules, value)


@attrs.frozen(kw_only=True)
class DeviceInfo:
    """The device a batch's data comes from (JSON Reference, ``device_info``): every field
    optional; ``platform`` and ``att_authorization_status`` are checked against the documented
    lists, the advertising and vendor ids (``ios_advertising_id``, ``ios_idfv``,
    ``android_advertising_id``, ``roku_*``, ``microsoft_*``, ``fire_advertising_id``) as UUIDs."""

    brand: str | None = None
    product: str | None = None
    device: str | None = None
    android_uuid: str | None = None
    device_manufacturer: str | None = None
    platform: DevicePlatform | None = None
    os_version: str | None = None
    device_model: str | None = None
    screen_height: int | None = None
    screen_width: int | None = None
    screen_dpi: int | None = None
    device_country: str | None = None
    locale_language: str | None = None
    locale_country: str | None = None
    network_country: str | None = None
    network_carrier: str | None = None
    network_code: str | None = None
    network_mobile_country_code: str | None = None
    timezone_offset: int | None = None
    build_identifier: str | None = None
    http_header_user_agent: str | None = None
    ios_advertising_id: str | None = None
    att_authorization_status: AttAuthorizationStatus | None = None
    att_timestamp_unixtime_ms: int | None = None
    push_token: str | None = None
    cpu_architecture: str | None = None
    is_tablet: bool | None = None
    push_notification_sound_enabled: bool | None = None
    push_notification_vibrate_enabled: bool | None = None
    radio_access_technology: str | None = None
    supports_telephony: bool | None = None
    has_nfc: bool | None = None
    bluetooth_enabled: bool | None = None
    bluetooth_version: str | None = None
    ios_idfv: str | None = None
    android_advertising_id: str | None = None
    roku_advertising_id: str | None = None
    roku_publisher_id: str | None = None
    microsoft_advertising_id: str | None = None
    microsoft_publisher_id: str | None = None
    fire_advertising_id: str | None = None
    limit_ad_tracking: bool | None = None
    is_dst: bool | None = None
    #: Not on the JSON Reference's page: the official package's and the JSON schema's.
    amp_id: str | None = None
    #: Not on the JSON Reference's page: the JSON schema's and the events OpenAPI file's.
    build_version_release: str | None = None

    def __attrs_post_init__(self) -> None:
        _check_model(self, _DEVICE_INFO_RULES)


@attrs.frozen(kw_only=True)
class ApplicationInfo:
    """The application a batch's data comes from (JSON Reference, ``application_info``)."""

    application_name: str | None = None
    application_version: str | None = None
    application_build_number: str | None = None
    install_referrer: str | None = None
    package: str | None = None
    #: The JSON schema's ``os`` (``IOS``, ``Android``, ``Desktop`` ...).
    os: ApplicationOS | None = None
    #: Apple Search Ads attribution, ``{"Version3.1": {"iad-campaign-id": ..., ...}}``.
    apple_search_ads_attributes: Mapping[str, Mapping[str, Any]] | None = None

    def __attrs_post_init__(self) -> None:
        _check_model(self, _APPLICATION_INFO_RULES)


@attrs.frozen
class Location:
    """Where an event happened (JSON Reference, ``location``): degrees, and the accuracy in
    metres. Latitude is checked to lie from -90 to 90, longitude from -180 to 180."""

    latitude: float | None = None
    longitude: float | None = None
    accuracy: float | None = None

    def __attrs_post_init__(self) -> None:
        _check_model(self, _LOCATION_RULES)


@attrs.frozen(kw_only=True)
class DeviceCurrentState:
    """The device's state when an event was logged (JSON Reference, ``device_current_state``):
    memory, battery, connection, orientation. Every field optional."""

    time_since_start_ms: int | None = None
    battery_level: float | None = None
    data_connection_type: DataConnectionType | None = None
    data_connection_type_detail: str | None = None
    #: A boolean (the JSON schema's and the official package's), or the JSON Reference's string.
    gps_state: bool | GpsState | None = None
    total_system_memory_usage_bytes: int | None = None
    disk_space_free_bytes: int | None = None
    external_disk_space_free_bytes: int | None = None
    cpu: str | None = None
    system_memory_available_bytes: float | None = None
    system_memory_low: bool | None = None
    system_memory_threshold_bytes: float | None = None
    application_memory_available_bytes: float | None = None
    application_memory_max_bytes: float | None = None
    application_memory_total_bytes: float | None = None
    device_orientation: DeviceOrientation | int | None = None
    status_bar_orientation: DeviceOrientation | int | None = None

    def __attrs_post_init__(self) -> None:
        _check_model(self, _DEVICE_CURRENT_STATE_RULES)


def _location(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _check_part(f"{type(instance).__name__}.location", value, Location, _RAW_LOCATION_RULES)


def _device_current_state(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _check_part(
        f"{type(instance).__name__}.device_current_state",
        value,
        DeviceCurrentState,
        _DEVICE_CURRENT_STATE_RULES,
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
    session_id: int | None = None
    event_id: int | None = None
    location: Location | Mapping[str, Any] | None = attrs.field(default=None, validator=_location)
    device_current_state: DeviceCurrentState | Mapping[str, Any] | None = attrs.field(
        default=None, validator=_device_current_state
    )


@attrs.frozen
class ScreenViewEvent:
    """A screen (or page) view (``event_type`` ``screen_view``)."""

    screen_name: str = attrs.field(validator=non_empty)
    custom_attributes: Mapping[str, Any] | None = None
    custom_flags: Mapping[str, Any] | None = None
    timestamp_unixtime_ms: int | None = None
    source_message_id: str | None = None
    session_uuid: str | None = None
    session_id: int | None = None
    event_id: int | None = None
    location: Location | Mapping[str, Any] | None = attrs.field(default=None, validator=_location)
    device_current_state: DeviceCurrentState | Mapping[str, Any] | None = attrs.field(
        default=None, validator=_device_current_state
    )


def _names(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(names)


def _one_of(name: str, allowed: tuple[str, ...]) -> Callable[[object, Any, object], None]:
    def check(instance: object, attribute: Any, value: object) -> None:
        if value not in allowed:
            raise InvalidRequest(f"{name} must be one of {', '.join(allowed)}; got {value!r}")

    return check


@attrs.frozen
class Product:
    """A product of a commerce event (JSON Reference, "Product"): every field optional."""

    id: str | None = None
    name: str | None = None
    brand: str | None = None
    category: str | None = None
    variant: str | None = None
    position: int | None = None
    price: float | None = None
    quantity: float | None = None
    coupon_code: str | None = None
    added_to_cart_time_ms: int | None = None
    total_product_amount: float | None = None
    custom_attributes: Mapping[str, Any] | None = None


def _products(products: Iterable[Product]) -> tuple[Product, ...]:
    return tuple(products)


@attrs.frozen
class ProductAction:
    """What was done with products: bought, added to a cart, refunded (``action``)."""

    action: ProductActionType = attrs.field(
        validator=_one_of("ProductAction.action", EVENTS_PRODUCT_ACTIONS)
    )
    products: tuple[Product, ...] = attrs.field(default=(), converter=_products)
    transaction_id: str | None = None
    total_amount: float | None = None
    tax_amount: float | None = None
    shipping_amount: float | None = None
    coupon_code: str | None = None
    affiliation: str | None = None
    checkout_step: int | None = None
    checkout_options: str | None = None
    product_action_list: str | None = None
    product_list_source: str | None = None


@attrs.frozen
class Promotion:
    """An internal promotion or campaign (JSON Reference, "Promotion")."""

    id: str | None = None
    name: str | None = None
    creative: str | None = None
    position: str | None = None


def _promotions(promotions: Iterable[Promotion]) -> tuple[Promotion, ...]:
    return tuple(promotions)


@attrs.frozen
class PromotionAction:
    """Promotions viewed or clicked (``action``)."""

    action: PromotionActionType = attrs.field(
        validator=_one_of("PromotionAction.action", EVENTS_PROMOTION_ACTIONS)
    )
    promotions: tuple[Promotion, ...] = attrs.field(default=(), converter=_promotions)


@attrs.frozen
class ProductImpression:
    """Products seen in a listing (``product_impression_list`` names it)."""

    product_impression_list: str | None = None
    products: tuple[Product, ...] = attrs.field(default=(), converter=_products)


def _impressions(impressions: Iterable[ProductImpression]) -> tuple[ProductImpression, ...]:
    return tuple(impressions)


@attrs.frozen
class CommerceEvent:
    """A commerce event (``event_type`` ``commerce_event``): exactly one of ``product_action``
    (products bought, carted, refunded ...), ``promotion_action`` or ``product_impressions``,
    as the JSON Reference's three variations require."""

    product_action: ProductAction | None = None
    promotion_action: PromotionAction | None = None
    product_impressions: tuple[ProductImpression, ...] = attrs.field(
        default=(), converter=_impressions
    )
    currency_code: str | None = None
    screen_name: str | None = None
    is_non_interactive: bool | None = None
    custom_attributes: Mapping[str, Any] | None = None
    custom_flags: Mapping[str, Any] | None = None
    timestamp_unixtime_ms: int | None = None
    event_id: int | None = None
    source_message_id: str | None = None
    session_id: int | None = None
    session_uuid: str | None = None
    location: Location | Mapping[str, Any] | None = attrs.field(default=None, validator=_location)
    device_current_state: DeviceCurrentState | Mapping[str, Any] | None = attrs.field(
        default=None, validator=_device_current_state
    )

    def __attrs_post_init__(self) -> None:
        given = [
            name
            for name, value in (
                ("product_action", self.product_action),
                ("promotion_action", self.promotion_action),
                ("product_impressions", self.product_impressions),
            )
            if value
        ]
        if len(given) != 1:
            raise InvalidRequest(
                "CommerceEvent needs exactly one of product_action, promotion_action and "
                f"product_impressions; got {', '.join(given) or 'none'}"
            )


@attrs.frozen
class SessionStartEvent:
    """The start of a session (``event_type`` ``session_start``); events of the session carry
    its ``session_uuid`` (or ``session_id``)."""

    session_uuid: str | None = None
    session_id: int | None = None
    timestamp_unixtime_ms: int | None = None
    event_id: int | None = None
    source_message_id: str | None = None
    location: Location | Mapping[str, Any] | None = attrs.field(default=None, validator=_location)
    device_current_state: DeviceCurrentState | Mapping[str, Any] | None = attrs.field(
        default=None, validator=_device_current_state
    )


@attrs.frozen
class SessionEndEvent:
    """The end of a session (``event_type`` ``session_end``), with its length."""

    session_uuid: str | None = None
    session_id: int | None = None
    session_duration_ms: int | None = None
    timestamp_unixtime_ms: int | None = None
    event_id: int | None = None
    source_message_id: str | None = None
    custom_attributes: Mapping[str, Any] | None = None
    location: Location | Mapping[str, Any] | None = attrs.field(default=None, validator=_location)
    device_current_state: DeviceCurrentState | Mapping[str, Any] | None = attrs.field(
        default=None, validator=_device_current_state
    )


# The other event types of the JSON Reference: their own fields first, then the fields every
# event's data node may carry (custom_attributes, timestamp_unixtime_ms, the ids, location,
# device_current_state), all optional.
@attrs.frozen
class _Common:
    custom_attributes: Mapping[str, Any] | None = None
    timestamp_unixtime_ms: int | None = None
    event_id: int | None = None
    source_message_id: str | None = None
    session_id: int | None = None
    session_uuid: str | None = None
    location: Location | Mapping[str, Any] | None = attrs.field(default=None, validator=_location)
    device_current_state: DeviceCurrentState | Mapping[str, Any] | None = attrs.field(
        default=None, validator=_device_current_state
    )


@attrs.frozen(kw_only=True)
class CrashReportEvent(_Common):
    """A crash (``crash_report``)."""

    class_name: str | None = None
    message: str | None = None
    stack_trace: str | None = None
    severity: str | None = None
    exception_handled: bool | None = None
    topmost_context: str | None = None
    breadcrumbs: tuple[str, ...] = attrs.field(default=(), converter=_names)
    session_number: int | None = None
    pl_crash_report_file_base64: str | None = None
    ios_image_base_address: int | None = None
    ios_image_size: int | None = None


@attrs.frozen(kw_only=True)
class OptOutEvent(_Common):
    """The user opted out of (or back into) tracking (``opt_out``)."""

    is_opted_out: bool | None = None


@attrs.frozen(kw_only=True)
class FirstRunEvent(_Common):
    """The application's first run on a device (``first_run``)."""


@attrs.frozen(kw_only=True)
class UninstallEvent(_Common):
    """The application was uninstalled (``uninstall``)."""


@attrs.frozen(kw_only=True)
class ApplicationStateTransitionEvent(_Common):
    """Launched, closed, to the background or the foreground (``application_state_transition``)."""

    application_transition_type: ApplicationTransitionType = attrs.field(
        validator=_one_of(
            "ApplicationStateTransitionEvent.application_transition_type",
            EVENTS_APPLICATION_TRANSITIONS,
        )
    )
    successfully_closed: bool | None = None
    is_first_run: bool | None = None
    is_upgrade: bool | None = None
    push_notification_payload: str | None = None


@attrs.frozen(kw_only=True)
class PushRegistrationEvent(_Common):
    """A push token registered, or removed (``register`` False) (``push_registration``)."""

    register: bool = attrs.field(validator=_rule(_required_bool))
    registration_token: str = attrs.field(validator=non_empty)


@attrs.frozen(kw_only=True)
class PushMessageEvent(_Common):
    """A push message sent, received or acted on (``push_message``)."""

    push_message_type: PushMessageType = attrs.field(
        validator=_one_of("PushMessageEvent.push_message_type", EVENTS_PUSH_MESSAGE_TYPES)
    )
    push_message_token: str | None = None
    message: str | None = None
    network: str | None = None
    push_notification_payload: str | None = None
    application_state: PushApplicationState | None = attrs.field(
        default=None, validator=_rule(_enum(EVENTS_PUSH_APPLICATION_STATES))
    )
    action_identifier: str | None = attrs.field(
        default=None, validator=_rule(_text_up_to(EVENTS_MAX_ACTION_IDENTIFIER_LENGTH))
    )


@attrs.frozen(kw_only=True)
class NetworkPerformanceEvent(_Common):
    """One HTTP call the application made, and how it went (``network_performance``)."""

    http_verb: str | None = None
    url: str | None = None
    time_elapsed: int | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None
    response_code: int | None = None
    data: str | None = None


@attrs.frozen(kw_only=True)
class BreadcrumbEvent(_Common):
    """A breadcrumb, to follow the path to a crash (``breadcrumb``)."""

    label: str = attrs.field(validator=non_empty)
    session_number: int | None = None


@attrs.frozen(kw_only=True)
class ProfileEvent(_Common):
    """A change of the user's profile: sign-up, login, logout ... (``profile``)."""

    profile_event_type: ProfileEventType | None = attrs.field(
        default=None, validator=_rule(_enum(EVENTS_PROFILE_EVENT_TYPES))
    )
    profile_name: str | None = None
    previous_profile_name: str | None = None


@attrs.frozen(kw_only=True)
class UserAttributeChangeEvent(_Common):
    """A user attribute set, changed or removed (``user_attribute_change``)."""

    user_attribute_name: str = attrs.field(validator=non_empty)
    new: Any = None
    old: Any = None
    deleted: bool | None = None
    is_new_attribute: bool | None = None


@attrs.frozen(kw_only=True)
class UserIdentityChangeEvent(_Common):
    """A user identity added, changed or removed (``user_identity_change``): ``new`` and
    ``old`` are ``{"identity_type", "identity", ...}`` mappings (the JSON schema's)."""

    new: Mapping[str, Any] | None = None
    old: Mapping[str, Any] | None = None


@attrs.frozen
class Consent:
    """One consent decision: a GDPR purpose's, or CCPA's data-sale opt-out (JSON Reference,
    consent_state)."""

    consented: bool
    document: str | None = None
    timestamp_unixtime_ms: int | None = None
    location: str | None = None
    hardware_id: str | None = None


def _purposes(purposes: Mapping[str, Consent]) -> dict[str, Consent]:
    return dict(purposes)


@attrs.frozen
class ConsentState:
    """The user's consent under each regulation: GDPR by purpose (``{"marketing": Consent(...)}``,
    purposes in lower case as mParticle stores them), and CCPA's one decision, the data-sale
    opt-out. Sent as ``{"gdpr": {purpose: {...}}, "ccpa": {"data_sale_opt_out": {...}}}``."""

    gdpr: dict[str, Consent] = attrs.field(factory=dict, converter=_purposes)
    ccpa_data_sale_opt_out: Consent | None = None


def _consent_json(state: ConsentState | Mapping[str, Any] | None) -> Any:
    if not isinstance(state, ConsentState):
        return state
    document: dict[str, Any] = {}
    if state.gdpr:
        document["gdpr"] = {name: converter.unstructure(c) for name, c in state.gdpr.items()}
    if state.ccpa_data_sale_opt_out is not None:
        document["ccpa"] = {
            "data_sale_opt_out": converter.unstructure(state.ccpa_data_sale_opt_out)
        }
    return document


_OTHER_EVENTS: dict[type[Any], str] = {
    CrashReportEvent: "crash_report",
    OptOutEvent: "opt_out",
    FirstRunEvent: "first_run",
    UninstallEvent: "uninstall",
    ApplicationStateTransitionEvent: "application_state_transition",
    PushRegistrationEvent: "push_registration",
    PushMessageEvent: "push_message",
    NetworkPerformanceEvent: "network_performance",
    BreadcrumbEvent: "breadcrumb",
    ProfileEvent: "profile",
    UserAttributeChangeEvent: "user_attribute_change",
    UserIdentityChangeEvent: "user_identity_change",
}

_TYPED_EVENTS = (
    CustomEvent,
    ScreenViewEvent,
    CommerceEvent,
    SessionStartEvent,
    SessionEndEvent,
    *_OTHER_EVENTS,
)

#: An event in a batch: typed, or a raw mapping in the documented JSON form.
Event: TypeAlias = (
    CustomEvent
    | ScreenViewEvent
    | CommerceEvent
    | SessionStartEvent
    | SessionEndEvent
    | CrashReportEvent
    | OptOutEvent
    | FirstRunEvent
    | UninstallEvent
    | ApplicationStateTransitionEvent
    | PushRegistrationEvent
    | PushMessageEvent
    | NetworkPerformanceEvent
    | BreadcrumbEvent
    | ProfileEvent
    | UserAttributeChangeEvent
    | UserIdentityChangeEvent
    | Mapping[str, Any]
)


# Typed converters: ``converter=tuple`` would make the parameters ``Iterable[_T_co]`` for a
# type checker, and every list a user passes an error under ``mypy --strict``.
def _events(events: Iterable[Event]) -> tuple[Event, ...]:
    return tuple(events)


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
    #: A ``DeviceInfo``, or the JSON Reference's mapping (checked against the same rules)
    device_info: DeviceInfo | Mapping[str, Any] | None = None
    #: An ``ApplicationInfo``, or the JSON Reference's mapping (checked against the same rules)
    application_info: ApplicationInfo | Mapping[str, Any] | None = None
    #: ``{"gdpr": {purpose: {consented, document, timestamp_unixtime_ms, location,
    #: hardware_id}}, "ccpa": {"data_sale_opt_out": {...}}}`` (JSON Reference, consent_state)
    consent_state: ConsentState | Mapping[str, Any] | None = None
    #: ``{"data_plan": {"plan_id": ..., "plan_version": ...}}``: the data plan to check against
    context: Mapping[str, Any] | None = None
    integration_attributes: Mapping[str, Any] | None = None
    mp_deviceid: str | None = None
    schema_version: int | None = None

    def __attrs_post_init__(self) -> None:
        check_batch(
            "Batch",
            self.environment,
            self.user_identities,
            self.user_attributes,
            self.mpid,
            self.device_info,
            self.source_request_id,
            self.application_info,
        )
        for index, event in enumerate(self.events):
            if not isinstance(event, _TYPED_EVENTS):
                check_raw_event(f"Batch.events[{index}]", event)


#: What the upload calls take: a ``Batch``, or a mapping in the documented JSON form.
BatchLike: TypeAlias = Batch | Mapping[str, Any]


def _as_is(value: Any) -> Any:
    return value


def _model_or_mapping(value: Any) -> Any:
    return value if isinstance(value, Mapping) else converter.unstructure(value)


_MODEL_OR_MAPPING = override(unstruct_hook=_model_or_mapping)


#: Each typed event class's hook, looked up by the exact class: a dict lookup per event where
#: the converter's dispatch and an ``isinstance(e, Mapping)`` (an ABC check) cost several
#: times as much, in the uploader's path.
_EVENT_JSON: dict[type[Any], Callable[[Any], dict[str, Any]]] = {}


def _event_hook(
    event_type: str, cls: type[Any], **required: Any
) -> Callable[[Any], dict[str, Any]]:
    # location and device_current_state: a model, or a mapping that is JSON already.
    parts: dict[str, Any] = {
        name: _MODEL_OR_MAPPING
        for name in ("location", "device_current_state")
        if name in attrs.fields_dict(cls)
    }
    data = make_dict_unstructure_fn(
        cls,
        converter,
        _cattrs_omit_if_default=True,
        custom_attributes=override(unstruct_hook=_as_is),
        custom_flags=override(unstruct_hook=_as_is),
        **parts,
        **required,
    )

    def hook(event: Any) -> dict[str, Any]:
        return {"event_type": event_type, "data": data(event)}

    _EVENT_JSON[cls] = hook
    return hook


def _events_json(events: tuple[Event, ...]) -> list[Any]:
    hooks = _EVENT_JSON
    return [
        hooks[type(e)](e)
        if type(e) in hooks
        else e
        if isinstance(e, Mapping)
        else converter.unstructure(e)
        for e in events
    ]


# Optional fields left at their default (None, empty) are left out of the JSON; a required
# field goes out whatever its value (custom_event_type "other" included: the JSON Reference,
# schema and OpenAPI file all require it). Mappings the caller gave are JSON already and pass
# through as they are.
converter.register_unstructure_hook(
    CustomEvent,
    _event_hook("custom_event", CustomEvent, custom_event_type=override(omit_if_default=False)),
)
converter.register_unstructure_hook(ScreenViewEvent, _event_hook("screen_view", ScreenViewEvent))


def _parts_hook(cls: type[Any], **overrides: Any) -> Callable[[Any], dict[str, Any]]:
    return make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True, **overrides)


def _listed(values: tuple[Any, ...]) -> list[Any]:
    return [converter.unstructure(value) for value in values]


_as_list = override(unstruct_hook=_listed)
converter.register_unstructure_hook(
    Product, _parts_hook(Product, custom_attributes=override(unstruct_hook=_as_is))
)
converter.register_unstructure_hook(
    ProductAction,
    _parts_hook(ProductAction, action=override(omit_if_default=False), products=_as_list),
)
converter.register_unstructure_hook(Promotion, _parts_hook(Promotion))
converter.register_unstructure_hook(DeviceInfo, _parts_hook(DeviceInfo))
converter.register_unstructure_hook(
    ApplicationInfo,
    _parts_hook(ApplicationInfo, apple_search_ads_attributes=override(unstruct_hook=_as_is)),
)
converter.register_unstructure_hook(Location, _parts_hook(Location))
converter.register_unstructure_hook(DeviceCurrentState, _parts_hook(DeviceCurrentState))
converter.register_unstructure_hook(
    Consent, _parts_hook(Consent, consented=override(omit_if_default=False))
)
converter.register_unstructure_hook(
    PromotionAction, _parts_hook(PromotionAction, promotions=_as_list)
)
converter.register_unstructure_hook(
    ProductImpression, _parts_hook(ProductImpression, products=_as_list)
)
converter.register_unstructure_hook(
    CommerceEvent, _event_hook("commerce_event", CommerceEvent, product_impressions=_as_list)
)
converter.register_unstructure_hook(
    SessionStartEvent, _event_hook("session_start", SessionStartEvent)
)
converter.register_unstructure_hook(SessionEndEvent, _event_hook("session_end", SessionEndEvent))
for _cls, _event_type in _OTHER_EVENTS.items():
    _required = {
        name: override(omit_if_default=False)
        for name in ("application_transition_type", "push_message_type", "register")
        if name in attrs.fields_dict(_cls)
    }
    _mappings = {
        name: override(unstruct_hook=_as_is)
        for name in ("new", "old")
        if name in attrs.fields_dict(_cls)
    }
    _lists = {"breadcrumbs": override(unstruct_hook=list)} if _cls is CrashReportEvent else {}
    converter.register_unstructure_hook(
        _cls, _event_hook(_event_type, _cls, **_required, **_mappings, **_lists)
    )
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
        device_info=_MODEL_OR_MAPPING,
        application_info=_MODEL_OR_MAPPING,
        consent_state=override(unstruct_hook=_consent_json),
        context=override(unstruct_hook=_as_is),
        integration_attributes=override(unstruct_hook=_as_is),
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
    application_info: object = None,
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
    if device_info is not None:
        _check_part(f"{where}.device_info", device_info, DeviceInfo, _DEVICE_INFO_RULES)
    if application_info is not None:
        _check_part(
            f"{where}.application_info", application_info, ApplicationInfo, _APPLICATION_INFO_RULES
        )
    if source_request_id is not None and (
        not isinstance(source_request_id, str) or not source_request_id
    ):
        raise InvalidRequest(f"{where}.source_request_id must be a non-empty string")
    # Which identities a batch carries is not checked: the Events API's schema requires only
    # ``environment``, and a batch may name its user by user_identities, mpid, mp_deviceid,
    # partner_identities or a device identity in device_info.


_EVENT_TYPES = frozenset(EVENTS_EVENT_TYPES)
_CUSTOM_EVENT_TYPES = frozenset(EVENTS_CUSTOM_EVENT_TYPES)

# What a raw event's data node must carry, by event type: the same fields and values the typed
# models require (CustomEvent, ScreenViewEvent, ApplicationStateTransitionEvent, ...).
# Commerce events have their own check below.
_EVENT_DATA_RULES: dict[str, dict[str, Rule]] = {
    "custom_event": {
        "event_name": _required_text,
        "custom_event_type": _enum(EVENTS_CUSTOM_EVENT_TYPES, required=True),
    },
    "screen_view": {"screen_name": _required_text},
    "application_state_transition": {
        "application_transition_type": _enum(EVENTS_APPLICATION_TRANSITIONS, required=True),
    },
    "push_registration": {"register": _required_bool, "registration_token": _required_text},
    "push_message": {
        "push_message_type": _enum(EVENTS_PUSH_MESSAGE_TYPES, required=True),
        "application_state": _enum(EVENTS_PUSH_APPLICATION_STATES),
        "action_identifier": _text_up_to(EVENTS_MAX_ACTION_IDENTIFIER_LENGTH),
    },
    "breadcrumb": {"label": _required_text},
    "profile": {"profile_event_type": _enum(EVENTS_PROFILE_EVENT_TYPES)},
    "user_attribute_change": {"user_attribute_name": _required_text},
}
_NO_DATA: Mapping[str, Any] = {}


def check_raw_event(where: str, event: object) -> None:
    """The documented rules a raw event mapping must meet (what the typed models check)."""
    if not isinstance(event, Mapping) or not isinstance(event.get("event_type"), str):
        raise InvalidRequest(
            f"{where} must be a typed event (CustomEvent, CommerceEvent ...) or a mapping with "
            f"an 'event_type' and 'data'; got {type(event).__name__}"
        )
    event_type = event["event_type"]
    if event_type not in _EVENT_TYPES:
        raise InvalidRequest(
            f"{where}.event_type must be one of {', '.join(EVENTS_EVENT_TYPES)}; got {event_type!r}"
        )
    data = event.get("data")
    if data is None:
        data = _NO_DATA
    elif not isinstance(data, Mapping):
        raise InvalidRequest(f"{where}.data must be a mapping")
    if event_type == "custom_event":
        # The commonest raw event, on the uploader's hot path: a shortcut for a valid one (what
        # it lets through, the rules let through); anything else meets the rules themselves.
        name = data.get("event_name")
        kind = data.get("custom_event_type")
        if not (type(name) is str and name and type(kind) is str and kind in _CUSTOM_EVENT_TYPES):
            _check_fields(where, _EVENT_DATA_RULES[event_type], data, ".data")
    elif event_type == "commerce_event":
        _check_raw_commerce(where, data)
    else:
        rules = _EVENT_DATA_RULES.get(event_type)
        if rules is not None:
            _check_fields(where, rules, data, ".data")
    location = data.get("location")
    if location is not None:
        _check_part(f"{where}.data.location", location, Location, _RAW_LOCATION_RULES)
    state = data.get("device_current_state")
    if state is not None:
        _check_part(
            f"{where}.data.device_current_state",
            state,
            DeviceCurrentState,
            _DEVICE_CURRENT_STATE_RULES,
        )


def _check_raw_commerce(where: str, data: Mapping[str, Any]) -> None:
    for part, allowed in (
        ("product_action", EVENTS_PRODUCT_ACTIONS),
        ("promotion_action", EVENTS_PROMOTION_ACTIONS),
    ):
        action = data.get(part)
        if action is not None and (
            not isinstance(action, Mapping) or action.get("action") not in allowed
        ):
            got = action.get("action") if isinstance(action, Mapping) else action
            raise InvalidRequest(
                f"{where}.data.{part}.action must be one of {', '.join(allowed)}; got {got!r}"
            )
    # The JSON Reference's three variations, as CommerceEvent requires them.
    given = [
        name
        for name in ("product_action", "promotion_action", "product_impressions")
        if data.get(name)
    ]
    if len(given) != 1:
        raise InvalidRequest(
            f"{where}.data needs exactly one of product_action, promotion_action and "
            f"product_impressions; got {', '.join(given) or 'none'}"
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

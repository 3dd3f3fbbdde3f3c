"""Documented facts of mParticle's APIs, in one place for the client and the emulator."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "ENVIRONMENTS",
    "CustomEventType",
    "ApplicationTransitionType",
    "EVENTS_APPLICATION_TRANSITIONS",
    "EVENTS_EVENT_TYPES",
    "EVENTS_PUSH_MESSAGE_TYPES",
    "ProfileEventType",
    "PushApplicationState",
    "PushMessageType",
    "EVENTS_PRODUCT_ACTIONS",
    "ApplicationOS",
    "AttAuthorizationStatus",
    "DataConnectionType",
    "DeviceOrientation",
    "DevicePlatform",
    "GpsState",
    "LocationSource",
    "EVENTS_APPLICATION_OSES",
    "EVENTS_ATT_AUTHORIZATION_STATUSES",
    "EVENTS_DATA_CONNECTION_TYPES",
    "EVENTS_DEVICE_ORIENTATIONS",
    "EVENTS_DEVICE_PLATFORMS",
    "EVENTS_DEVICE_UUID_FIELDS",
    "EVENTS_GPS_STATES",
    "EVENTS_LOCATION_SOURCES",
    "EVENTS_MAX_ACTION_IDENTIFIER_LENGTH",
    "EVENTS_PROFILE_EVENT_TYPES",
    "EVENTS_PUSH_APPLICATION_STATES",
    "EVENTS_PROMOTION_ACTIONS",
    "Environment",
    "EventType",
    "ProductActionType",
    "PromotionActionType",
    "EVENTS_PATH",
    "EVENTS_CUSTOM_EVENT_TYPES",
    "EVENTS_HISTORICAL_MIN_AGE_MS",
    "EVENTS_MAX_BATCHES_PER_REQUEST",
    "EVENTS_MAX_BATCH_BYTES",
    "EVENTS_MAX_REQUEST_BYTES",
    "EVENTS_MAX_USER_ATTRIBUTES",
    "EVENTS_USER_IDENTITY_TYPES",
    "GROUPS_PATH",
    "GROUP_ATTRIBUTE_ID_LENGTH",
    "GROUP_ATTRIBUTE_TYPES",
    "GROUP_DESCRIPTION_LENGTH",
    "GROUP_ID_LENGTH",
    "GROUP_MAX_ATTRIBUTES",
    "IDENTITY_PATH",
    "IDENTITY_SPELLINGS",
    "IDENTITY_TYPES",
    "OAUTH_AUDIENCE",
    "OAUTH_TOKEN_PATH",
    "PLATFORM_PATH",
    "PLATFORM_V2_PATH",
    "PROFILE_FIELDS",
    "PROFILE_RESOLVE_SPELLINGS",
    "PROFILE_PATH",
    "TOKEN_LIFETIME",
]

#: The fields a Profile API call may ask for (``fields=`` query parameter).
PROFILE_FIELDS = (
    "device_identities",
    "user_identities",
    "user_attributes",
    "audience_memberships",
    "attribution",
)

#: The environments a Profile resolve or an Identity request may name.
ENVIRONMENTS = ("production", "development")

#: The Profile API's resolve spells the customer id ``customer_id`` (docs:
#: src/pages/developers/profile-api/index.md, "identity.type … eg. customer_id, other"), not the
#: Identity API's ``customerid``.
PROFILE_RESOLVE_SPELLINGS = {"customerid": "customer_id"}

#: Path of the Profile API under ``Hosts.api``.
PROFILE_PATH = "/userprofile/v1"

#: The OAuth token endpoint's path under ``Hosts.sso``, and the ``audience`` every token request
#: names (Profile API page, "Generating your Bearer Token").
OAUTH_TOKEN_PATH = "/oauth/token"
OAUTH_AUDIENCE = "https://api.mparticle.com"

#: Path of the Identity API (IDSync) under ``Hosts.identity`` (IDSync HTTP API page).
IDENTITY_PATH = "/v1"

#: Path of the Group Identity API's collection under ``Hosts.api``; items hang below it.
GROUPS_PATH = "/platform/workspaces/{workspace_id}/groups/"

#: Path of the Events API under ``Hosts.events`` (``/events``, ``/bulkevents``,
#: ``/bulkevents/historical`` below it).
EVENTS_PATH = "/v2"

#: Seconds an OAuth token is valid, as documented.
TOKEN_LIFETIME = 28800

#: The identity types the Identity API (IDSync) takes, as ``known_identities`` keys and
#: ``identity_type`` values: mParticle's identity Swagger spec (docs:
#: static/downloads/identity-swagger.yaml, ``Identities``), and the types mParticle's mobile SDKs
#: send beyond it (Android ``MParticleIdentityClientImpl.getStringValue``, Apple
#: ``MPIdentityDTO``): ``other2`` … ``other10``, ``alias``, ``mobile_number``,
#: ``phone_number_2``, ``phone_number_3``.
IDENTITY_TYPES = (
    "ios_idfa",
    "android_aaid",
    "amp_id",
    "android_uuid",
    "ios_idfv",
    "push_token",
    "roku_publisher_id",
    "roku_aid",
    "fire_aid",
    "customerid",
    "email",
    "facebook",
    "facebookcustomaudienceid",
    "google",
    "microsoft",
    "other",
    "twitter",
    "yahoo",
    "device_application_stamp",
    "other2",
    "other3",
    "other4",
    "other5",
    "other6",
    "other7",
    "other8",
    "other9",
    "other10",
    "alias",
    "mobile_number",
    "phone_number_2",
    "phone_number_3",
)

#: The Identity API's spelling of identity types that the Events API (and the Profile API's
#: resolve) spell otherwise, so that a mix-up gets a message naming the right one.
IDENTITY_SPELLINGS = {
    "customer_id": "customerid",
    "facebook_custom_audience_id": "facebookcustomaudienceid",
    **{f"other_id_{n}": f"other{n}" for n in range(2, 11)},
}

# The documented limits of a group definition (Group Identity API reference).
#: Characters in a group id, inclusive.
GROUP_ID_LENGTH = (3, 32)
#: Characters in a group description, inclusive.
GROUP_DESCRIPTION_LENGTH = (0, 255)
#: Characters in a group attribute id (the user attribute it aggregates), inclusive.
GROUP_ATTRIBUTE_ID_LENGTH = (1, 223)
#: Attributes a group definition may carry.
GROUP_MAX_ATTRIBUTES = 10
#: How an attribute's values across a group's members are combined.
GROUP_ATTRIBUTE_TYPES = ("latest", "boolean_or", "sum", "average")
#: Path of the Platform API under ``Hosts.api``.
PLATFORM_PATH = "/v1"
#: Path of the Platform API's second version under ``Hosts.api`` (Calculated Attributes): "This
#: API uses a different path than other Platform APIs … https://api.mparticle.com/platform/v2.
#: This API does not require the ?accountId query string parameter" (docs:
#: src/pages/developers/platform/index.md).
PLATFORM_V2_PATH = "/platform/v2"

# The Events API (server to server).
# Documented limits: mParticle's "Default service limits" and the Events API reference.
# "KB" is read as 1,000 bytes, so a request is within the limit whichever KB the server means.
#: Batches in one ``/bulkevents`` request.
EVENTS_MAX_BATCHES_PER_REQUEST = 100
#: Bytes of JSON in one request body.
EVENTS_MAX_REQUEST_BYTES = 256_000
#: Bytes of JSON in one batch.
EVENTS_MAX_BATCH_BYTES = 128_000
#: User attributes in one batch.
EVENTS_MAX_USER_ATTRIBUTES = 100
#: ``/bulkevents/historical`` takes only events at least this old (72 hours), in milliseconds.
EVENTS_HISTORICAL_MIN_AGE_MS = 72 * 3600 * 1000

#: Keys of a batch's ``user_identities``. mParticle's sources disagree on one key: the Events
#: API's JSON schema (docs: static/schema/mparticle.inbound.eventsapi.schema.json), its OpenAPI
#: file (static/downloads/mparticle.events.oas.yaml), the Go and Java SDKs write
#: ``customer_id``; the official Python package (mparticle.models.UserIdentities), the Node and
#: Ruby SDKs and the profile-update examples of the docs' "Profiles" page write ``customerid``.
#: Both are accepted; the client sends the key the caller wrote.
EVENTS_USER_IDENTITY_TYPES = frozenset(
    {
        "other", "customer_id", "customerid", "facebook", "twitter", "google", "microsoft",
        "yahoo", "email", "alias", "facebook_custom_audience_id", "other_id_2", "other_id_3",
        "other_id_4", "other_id_5", "other_id_6", "other_id_7", "other_id_8", "other_id_9",
        "other_id_10", "mobile_number", "phone_number_2", "phone_number_3",
    }
)  # fmt: skip

#: ``custom_event_type`` values of a custom event: the union of the JSON Reference's list
#: (docs: src/pages/developers/server/json-reference/index.md, which adds ``attribution``, see
#: "Attribution custom events"), the JSON schema's enum (``media``) and the official Python
#: package's (mparticle.models.AppEvent, which adds ``unknown`` and ``attribution``). The field
#: is required on every custom event (JSON Reference, schema and OpenAPI ``required``).
CustomEventType = Literal[
    "navigation", "location", "search", "transaction", "user_content", "user_preference",
    "social", "other", "media", "attribution", "unknown",
]  # fmt: skip
EVENTS_CUSTOM_EVENT_TYPES: tuple[str, ...] = get_args(CustomEventType)

#: The environments a batch may name (Events API JSON schema's ``environment`` enum).
Environment = Literal["production", "development"]

#: Every ``event_type`` of the Events API: the JSON schema's event definitions
#: (static/schema/mparticle.inbound.eventsapi.schema.json), which the JSON Reference's
#: sections follow and add none to.
EventType = Literal[
    "custom_event", "commerce_event", "session_start", "session_end", "screen_view",
    "uninstall", "crash_report", "opt_out", "first_run", "push_registration",
    "application_state_transition", "push_message", "network_performance", "breadcrumb",
    "profile", "user_attribute_change", "user_identity_change",
]  # fmt: skip
EVENTS_EVENT_TYPES: tuple[str, ...] = get_args(EventType)

#: ``product_action.action`` of a commerce event: the JSON Reference's list ("The allowed values
#: of action"), and ``unknown``, which the official package's ProductAction model also allows.
ProductActionType = Literal[
    "add_to_cart", "remove_from_cart", "checkout", "checkout_option", "click", "view_detail",
    "purchase", "refund", "add_to_wishlist", "remove_from_wish_list", "unknown",
]  # fmt: skip
EVENTS_PRODUCT_ACTIONS: tuple[str, ...] = get_args(ProductActionType)

#: ``application_transition_type`` of an application_state_transition event: the JSON Reference's
#: four, and ``unknown`` (the official package's ApplicationStateTransitionEvent).
ApplicationTransitionType = Literal[
    "application_initialized", "application_exit", "application_background",
    "application_foreground", "unknown",
]  # fmt: skip
EVENTS_APPLICATION_TRANSITIONS: tuple[str, ...] = get_args(ApplicationTransitionType)

#: ``push_message_type`` of a push_message event: ``sent``, ``received``, ``action`` (JSON
#: Reference), and ``unknown`` (the official package's PushMessageEvent).
PushMessageType = Literal["sent", "received", "action", "unknown"]
EVENTS_PUSH_MESSAGE_TYPES: tuple[str, ...] = get_args(PushMessageType)

#: ``application_state`` of a push_message event (the official package's PushMessageEvent; the
#: JSON Reference's example shows ``background``).
PushApplicationState = Literal["not_running", "background", "foreground", "unknown"]
EVENTS_PUSH_APPLICATION_STATES: tuple[str, ...] = get_args(PushApplicationState)

#: Characters in a push_message event's ``action_identifier`` (JSON Reference, push_message:
#: "100 character limit").
EVENTS_MAX_ACTION_IDENTIFIER_LENGTH = 100

#: ``profile_event_type`` of a profile event (the JSON schema's ProfileEvent and the official
#: package's ProfileEvent).
ProfileEventType = Literal["signup", "login", "logout", "update", "delete", "unknown"]
EVENTS_PROFILE_EVENT_TYPES: tuple[str, ...] = get_args(ProfileEventType)

#: ``promotion_action.action``: ``view`` and ``click`` (JSON Reference), and ``unknown`` (the
#: official package's PromotionAction).
PromotionActionType = Literal["view", "click", "unknown"]
EVENTS_PROMOTION_ACTIONS: tuple[str, ...] = get_args(PromotionActionType)

# A batch's device_info and application_info, and an event's location and device_current_state
# (JSON Reference sections of those names; docs: src/pages/developers/server/json-reference/
# index.md). Where the JSON Reference and another source name different values, both are
# accepted; a source that names no values (a plain string) widens nothing.

#: ``device_info.platform``: the JSON Reference's list (which the JSON schema's enum repeats),
#: ``Unknown`` (the official package's DeviceInformation) and ``desktop`` (the events OpenAPI
#: file, static/downloads/mparticle.events.oas.yaml).
DevicePlatform = Literal[
    "iOS", "Android", "web", "tvOS", "roku", "out_of_band", "alexa", "smart_tv", "fire_tv",
    "xbox", "Unknown", "desktop",
]  # fmt: skip
EVENTS_DEVICE_PLATFORMS: tuple[str, ...] = get_args(DevicePlatform)

#: ``device_info.att_authorization_status`` (App Tracking Transparency): the JSON Reference's
#: list; the JSON schema and the official package name the same four.
AttAuthorizationStatus = Literal["authorized", "denied", "not_determined", "restricted"]
EVENTS_ATT_AUTHORIZATION_STATUSES: tuple[str, ...] = get_args(AttAuthorizationStatus)

#: The ``device_info`` fields the JSON Reference types ``GUID``: the advertising and vendor ids.
#: (``android_uuid``, the "legacy Android ID", and ``build_identifier``, a "Build UUID" whose
#: example is ``M4-rc20``, are plain strings there.) The JSON schema's ``Uuid`` pattern is the
#: 8-4-4-4-12 hex form; the official package takes whatever Python's ``uuid.UUID`` parses.
EVENTS_DEVICE_UUID_FIELDS = (
    "ios_advertising_id", "ios_idfv", "android_advertising_id", "roku_advertising_id",
    "roku_publisher_id", "microsoft_advertising_id", "microsoft_publisher_id",
    "fire_advertising_id",
)  # fmt: skip

#: ``application_info.os``: not on the JSON Reference's page; the JSON schema's enum, and
#: ``Unknown``, the events OpenAPI file's default. (The official package's
#: ApplicationInformation has no ``os``.)
ApplicationOS = Literal[
    "IOS", "Android", "WindowsPhone", "MobileWeb", "UnityIOS", "UnityAndroid", "Desktop",
    "TVOS", "Roku", "OutOfBand", "Alexa", "SmartTV", "FireTV", "Xbox", "Unknown",
]  # fmt: skip
EVENTS_APPLICATION_OSES: tuple[str, ...] = get_args(ApplicationOS)

#: ``device_current_state.device_orientation`` and ``status_bar_orientation``: the JSON
#: Reference's ``portrait``, ``landscape``, ``square``, and ``undefined`` (its example's value);
#: the JSON schema's enum; ``unknown`` (the official package's DeviceCurrentState). The JSON
#: Reference's master sample sends the platform's number instead (``6``, ``1``): an integer is
#: accepted too.
DeviceOrientation = Literal[
    "portrait", "portrait_upside_down", "landscape", "LandscapeLeft", "LandscapeRight",
    "FaceUp", "FaceDown", "Square", "square", "undefined", "unknown",
]  # fmt: skip
EVENTS_DEVICE_ORIENTATIONS: tuple[str, ...] = get_args(DeviceOrientation)

#: ``device_current_state.data_connection_type``: the JSON Reference's list (the JSON schema
#: and the official package take any string).
DataConnectionType = Literal["offline", "wifi", "mobile"]
EVENTS_DATA_CONNECTION_TYPES: tuple[str, ...] = get_args(DataConnectionType)

#: ``device_current_state.gps_state`` as the JSON Reference spells it; the JSON schema and the
#: official package (and the JSON Reference's own examples) send a boolean, also accepted.
GpsState = Literal["unknown", "true", "false"]
EVENTS_GPS_STATES: tuple[str, ...] = get_args(GpsState)

#: ``location.location_source`` (JSON Reference, location: "One of ...").
LocationSource = Literal["unknown", "ip_lookup", "lat_long"]
EVENTS_LOCATION_SOURCES: tuple[str, ...] = get_args(LocationSource)

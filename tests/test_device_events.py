"""device_info, application_info, and an event's location and device_current_state: typed,
checked against the JSON Reference before anything is sent (typed or raw, by the same rules),
and the same JSON as the official ``mparticle`` package's for the same input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import mparticle
import pytest
from mparticle import ApiClient

from mp_async import MParticle
from mp_async.api.events import (
    ApplicationInfo,
    ApplicationStateTransitionEvent,
    Batch,
    CommerceEvent,
    CustomEvent,
    DeviceCurrentState,
    DeviceInfo,
    Location,
    ProductAction,
    ProfileEvent,
    PushMessageEvent,
    ScreenViewEvent,
    SessionEndEvent,
    SessionStartEvent,
    encode_batch,
)
from mp_async.converter import converter
from mp_async.emulator import Emulator
from mp_async.errors import InvalidRequest
from mp_async.protocol import (
    EVENTS_ATT_AUTHORIZATION_STATUSES,
    EVENTS_DEVICE_ORIENTATIONS,
    EVENTS_DEVICE_PLATFORMS,
    EVENTS_DEVICE_UUID_FIELDS,
    EVENTS_PROFILE_EVENT_TYPES,
    EVENTS_PUSH_APPLICATION_STATES,
)

IDFA = "613ff528-afd1-4c1b-9628-e6ed25ece9c0"  # the JSON Reference's examples' ids
IDFV = "8c61383f-2216-4713-8c1c-1cb0a5d7a4cc"


def official(model: Any) -> Any:
    """What the official package sends for ``model``."""
    return ApiClient.sanitize_for_serialization(model)


# The JSON Reference's examples (src/pages/developers/server/json-reference/index.md, the
# "device_info" and "application_info" sections), as the page writes them.
DEVICE_INFO_EXAMPLE: dict[str, Any] = {
    "brand": "iPhone6,1",
    "product": "iPhone6,1",
    "device": "John's iPhone 5s",
    "android_uuid": None,
    "device_manufacturer": "Apple",
    "platform": "iOS",
    "os_version": "7.1.1",
    "device_model": "iPhone6,1",
    "screen_height": 1136,
    "screen_width": 640,
    "screen_dpi": 160,
    "device_country": "USA",
    "locale_language": "en",
    "locale_country": "US",
    "network_country": "us",
    "network_carrier": "AT&T",
    "network_code": "410",
    "network_mobile_country_code": "310",
    "timezone_offset": -4,
    "build_identifier": "M4-rc20",
    "http_header_user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 7_1 like Mac OS X) "
    "AppleWebKit/537.51.2 (KHTML, like Gecko) Mobile/11D167 mParticle/2.5.0",
    "ios_advertising_id": IDFA,
    "att_authorization_status": "authorized",
    "att_timestamp_unixtime_ms": 1614187122051,
    "push_token": "<e481f135 9629f0c3 fb634be0 82ca18b1 73ea45a2 b0b96a6e 2a00c829 bc9ff6eb>",
    "cpu_architecture": "arm64",
    "is_tablet": False,
    "push_notification_sound_enabled": True,
    "push_notification_vibrate_enabled": False,
    "radio_access_technology": "LTE",
    "supports_telephony": "",
    "has_nfc": False,
    "bluetooth_enabled": True,
    "bluetooth_version": "",
    "ios_idfv": IDFV,
    "android_advertising_id": "",
    "limit_ad_tracking": False,
    "is_dst": False,
}
APPLICATION_INFO_EXAMPLE: dict[str, Any] = {
    "application_name": "App Name",
    "application_version": "1.0.1",
    "application_build_number": "42",
    "install_referrer": "utm_campaign=my_campaign&utm_source=google&utm_medium=cpc"
    "&utm_term=my_keyword&utm_content=ad_variation1",
    "package": "com.mparticle.test",
    "apple_search_ads_attributes": {
        "Version3.1": {
            "iad-lineitem-id": "9590781",
            "iad-keyword": "foo",
            "iad-attribution": "true",
        }
    },
}
DOCS = Path(__file__).parent / "fixtures" / "docs" / "json-reference.json"


def reference_example(key: str) -> Any:
    """The JSON Reference's example of ``key`` (its own ``{key: {...}}`` block)."""
    examples = json.loads(DOCS.read_text())["examples"]
    [found] = [e["json"][key] for e in examples if set(e["json"]) == {key}]
    return found


# --- the same JSON as the official package -------------------------------------------------


def test_device_info_is_the_json_the_official_package_sends() -> None:
    fields = {
        k: v
        for k, v in DEVICE_INFO_EXAMPLE.items()
        # The official model has no limit_ad_tracking or is_dst (the JSON Reference has), and
        # the page's "" for a missing id or a boolean is not the official model's.
        if k not in {"limit_ad_tracking", "is_dst"} and v != ""
    }
    fields.update(
        amp_id="amp-1",
        roku_advertising_id=IDFA,
        roku_publisher_id=IDFV,
        microsoft_advertising_id=IDFA,
        microsoft_publisher_id=IDFV,
        fire_advertising_id=IDFA,
        android_advertising_id=IDFV,
    )
    ours = converter.unstructure(DeviceInfo(**fields))
    assert ours == official(mparticle.DeviceInformation(**fields))
    assert set(ours) == {k for k, v in fields.items() if v is not None}


def test_application_info_location_and_device_state_are_the_official_json() -> None:
    app = {
        "application_name": "shop",
        "application_version": "1.0.1",
        "install_referrer": "utm_source=google",
        "package": "com.example.shop",
    }
    assert converter.unstructure(ApplicationInfo(**app)) == official(
        mparticle.ApplicationInformation(**app)
    )
    place = {"latitude": 40.7142, "longitude": -74.0064, "accuracy": 195.0165104914573}
    assert converter.unstructure(Location(**place)) == official(mparticle.GeoLocation(**place))
    state = {
        "time_since_start_ms": 5515182,
        "battery_level": 0.95,
        "data_connection_type": "wifi",
        "data_connection_type_detail": "hdspa",
        "gps_state": True,
        "total_system_memory_usage_bytes": 2980528128,
        "disk_space_free_bytes": 29716148224,
        "cpu": "4",
        "system_memory_available_bytes": 536903680.0,
        "system_memory_low": False,
        "system_memory_threshold_bytes": 56590336.0,
        "application_memory_available_bytes": 6995328.0,
        "application_memory_max_bytes": 67108864.0,
        "application_memory_total_bytes": 17604608.0,
        "device_orientation": "portrait",
        "status_bar_orientation": "LandscapeLeft",
    }
    assert converter.unstructure(DeviceCurrentState(**state)) == official(
        mparticle.DeviceCurrentState(**state)
    )


def test_a_batch_with_every_part_typed_is_the_official_batch() -> None:
    place = {"latitude": 51.5, "longitude": -0.12, "accuracy": 10.0}
    state: dict[str, Any] = {
        "battery_level": 0.5,
        "data_connection_type": "mobile",
        "device_orientation": "FaceUp",
    }
    ours = Batch(
        "production",
        mpid=7,
        device_info=DeviceInfo(platform="Android", android_advertising_id=IDFA, is_tablet=True),
        application_info=ApplicationInfo(application_name="shop", package="com.example.shop"),
        events=[
            CustomEvent(
                "tap",
                "navigation",
                location=Location(**place),
                device_current_state=DeviceCurrentState(**state),
            ),
            ScreenViewEvent("Home", location=Location(**place)),
            SessionStartEvent(session_uuid="s-1", location=Location(**place)),
            SessionEndEvent(session_uuid="s-1", device_current_state=DeviceCurrentState(cpu="3")),
            CommerceEvent(
                product_action=ProductAction("purchase"),
                location=Location(**place),
                device_current_state=DeviceCurrentState(**state),
            ),
        ],
    )
    theirs = mparticle.Batch(
        environment="production",
        mpid=7,
        device_info=mparticle.DeviceInformation(
            platform="Android", android_advertising_id=IDFA, is_tablet=True
        ),
        application_info=mparticle.ApplicationInformation(
            application_name="shop", package="com.example.shop"
        ),
    )
    theirs.events = [
        mparticle.AppEvent(
            event_name="tap",
            custom_event_type="navigation",
            location=mparticle.GeoLocation(**place),
            device_current_state=mparticle.DeviceCurrentState(**state),
        ),
        mparticle.ScreenViewEvent(screen_name="Home", location=mparticle.GeoLocation(**place)),
        mparticle.SessionStartEvent(session_uuid="s-1", location=mparticle.GeoLocation(**place)),
        mparticle.SessionEndEvent(
            session_uuid="s-1", device_current_state=mparticle.DeviceCurrentState(cpu="3")
        ),
        mparticle.CommerceEvent(
            mparticle.ProductAction("purchase"),
            location=mparticle.GeoLocation(**place),
            device_current_state=mparticle.DeviceCurrentState(**state),
        ),
    ]
    sent = json.loads(encode_batch(ours).body)
    del sent["source_request_id"]
    assert sent == official(theirs)


FIXTURES = Path(__file__).parent / "fixtures" / "events"
OPENAPI = json.loads((FIXTURES / "mparticle.events.oas.json").read_text())["components"]["schemas"]


@pytest.mark.parametrize(
    ("ours", "theirs", "schema"),
    [
        (DeviceInfo, mparticle.DeviceInformation, "DeviceInformation"),
        (ApplicationInfo, mparticle.ApplicationInformation, "ApplicationInformation"),
        (Location, mparticle.GeoLocation, "GeoLocation"),
        (DeviceCurrentState, mparticle.DeviceCurrentState, "DeviceCurrentState"),
    ],
)
def test_every_key_we_can_emit_is_one_the_official_model_or_openapi_file_knows(
    ours: type, theirs: type, schema: str
) -> None:
    known = set(theirs().attribute_map.values()) | set(OPENAPI[schema]["properties"])
    assert {f.name for f in attrs.fields(ours)} <= known


# --- the official package's enumerations and checks are ours too ---------------------------


def _accepted_by_setter(model: type, field: str, candidates: set[str]) -> set[str]:
    accepted = set()
    for candidate in candidates | {"x-nope"}:
        instance = model()
        try:
            setattr(instance, field, candidate)  # the setters check; the constructors mostly not
        except ValueError:
            continue
        accepted.add(candidate)
    assert "x-nope" not in accepted
    return accepted


@pytest.mark.parametrize(
    ("model", "field", "ours"),
    [
        (mparticle.DeviceInformation, "platform", EVENTS_DEVICE_PLATFORMS),
        (
            mparticle.DeviceInformation,
            "att_authorization_status",
            EVENTS_ATT_AUTHORIZATION_STATUSES,
        ),
        (mparticle.DeviceCurrentState, "device_orientation", EVENTS_DEVICE_ORIENTATIONS),
        (mparticle.DeviceCurrentState, "status_bar_orientation", EVENTS_DEVICE_ORIENTATIONS),
        (mparticle.PushMessageEvent, "application_state", EVENTS_PUSH_APPLICATION_STATES),
        (mparticle.ProfileEvent, "profile_event_type", EVENTS_PROFILE_EVENT_TYPES),
    ],
)
def test_every_value_the_official_package_allows_is_accepted(
    model: type, field: str, ours: tuple[str, ...]
) -> None:
    # Candidates: ours, and spellings the sources disagree on, so a value the official package
    # takes that we lack would show.
    candidates = {*ours, "unknown", "Unknown", "desktop", "square", "Square", "ios", "IOS"}
    assert _accepted_by_setter(model, field, candidates) <= set(ours)


def test_every_id_the_official_package_checks_as_a_uuid_is_checked() -> None:
    checked = set()
    for field in mparticle.DeviceInformation().attribute_map:
        try:
            mparticle.DeviceInformation(**{field: "not-a-uuid"})
        except ValueError as error:
            if "UUID" in str(error):
                checked.add(field)
    assert checked
    assert checked <= set(EVENTS_DEVICE_UUID_FIELDS)


# --- the documented examples are accepted -------------------------------------------------


async def test_the_references_device_and_application_examples_are_sent_as_written(
    mp: MParticle, emulator: Emulator
) -> None:
    batch = {
        "environment": "production",
        "mpid": 42,
        "device_info": DEVICE_INFO_EXAMPLE,
        "application_info": APPLICATION_INFO_EXAMPLE,
        "events": [
            {
                "event_type": "screen_view",
                "data": {
                    "screen_name": "Home",
                    "location": reference_example("location"),
                    "device_current_state": reference_example("device_current_state"),
                },
            }
        ],
    }
    await mp.events.upload(batch)
    [received] = emulator.state.event_batches
    del received["source_request_id"]
    assert received == batch


def test_the_references_examples_build_typed_models() -> None:
    typed = {k: v for k, v in DEVICE_INFO_EXAMPLE.items() if v != ""}
    device = DeviceInfo(**typed)
    assert converter.unstructure(device) == {k: v for k, v in typed.items() if v is not None}
    app = ApplicationInfo(**APPLICATION_INFO_EXAMPLE)
    assert converter.unstructure(app) == APPLICATION_INFO_EXAMPLE
    state = dict(reference_example("device_current_state"))
    # The page's example writes one key "system_memory_available_Bytes"; the table, the schema
    # and the official package spell it in lower case.
    state["system_memory_available_bytes"] = state.pop("system_memory_available_Bytes")
    assert converter.unstructure(DeviceCurrentState(**state)) == state
    place = reference_example("location")
    assert converter.unstructure(Location(place["latitude"], place["longitude"])) == {
        "latitude": 40.7142,
        "longitude": 74.0064,
    }


@pytest.mark.parametrize(
    "value",
    [
        IDFA,
        IDFA.upper(),  # as iOS writes an IDFA
        IDFA.replace("-", ""),  # 32 digits: the official package takes it (uuid.UUID)
        "{" + IDFA + "}",
        "00000000-0000-0000-0000-000000000000",  # a zeroed IDFA, limit ad tracking on
        "",  # the JSON Reference's examples send "" for an id the device lacks
        None,
    ],
)
def test_documented_uuid_fields_take_any_form_of_uuid(value: str | None) -> None:
    for field in EVENTS_DEVICE_UUID_FIELDS:
        DeviceInfo(**{field: value})
        encode_batch({"environment": "production", "device_info": {field: value}})


def test_ids_the_reference_does_not_call_uuids_are_not_checked() -> None:
    # android_uuid is the "legacy Android ID" (16 hex digits); build_identifier's example is
    # "M4-rc20"; amp_id and push_token are free strings.
    values = {
        "android_uuid": "9774d56d682e549c",
        "build_identifier": "M4-rc20",
        "amp_id": "amp",
        "push_token": "<e481f135>",
    }
    DeviceInfo(**values)
    encode_batch({"environment": "production", "device_info": values})


@pytest.mark.parametrize("orientation", [6, 1, "undefined", "square", "Square", "unknown"])
def test_orientations_the_references_examples_send_are_accepted(
    orientation: str | int,
) -> None:
    DeviceCurrentState(device_orientation=orientation, status_bar_orientation=orientation)  # type: ignore[arg-type]
    encode_batch(
        {
            "environment": "production",
            "events": [
                {
                    "event_type": "session_start",
                    "data": {"device_current_state": {"device_orientation": orientation}},
                }
            ],
        }
    )


@pytest.mark.parametrize("gps_state", [True, False, "true", "false", "unknown"])
def test_gps_state_is_a_boolean_or_the_references_string(gps_state: bool | str) -> None:
    DeviceCurrentState(gps_state=gps_state)  # type: ignore[arg-type]


# --- bad values are refused, naming the field, before anything is sent -----------------------

BAD_PARTS: list[tuple[str, dict[str, Any], str]] = [
    ("device_info", {"platform": "ios"}, "must be one of iOS, Android"),
    ("device_info", {"platform": 3}, "must be one of"),
    ("device_info", {"att_authorization_status": "yes"}, "must be one of authorized, denied"),
    ("device_info", {"ios_idfv": "ABC"}, "must be a UUID"),
    ("device_info", {"ios_advertising_id": 123}, "must be a UUID"),
    ("device_info", {"roku_publisher_id": IDFA + "0"}, "must be a UUID"),
    ("device_info", {"microsoft_advertising_id": "m"}, "must be a UUID"),
    ("device_info", {"fire_advertising_id": "f"}, "must be a UUID"),
    ("application_info", {"os": "iOS"}, "must be one of IOS, Android"),
]


@pytest.mark.parametrize(("part", "fields", "message"), BAD_PARTS)
def test_a_bad_device_or_application_info_is_refused_naming_the_field(
    part: str, fields: dict[str, Any], message: str
) -> None:
    model = DeviceInfo if part == "device_info" else ApplicationInfo
    [name] = fields
    with pytest.raises(InvalidRequest, match=rf"^{model.__name__}\.{name} {message}"):
        model(**fields)
    with pytest.raises(InvalidRequest, match=rf"^Batch\.{part}\.{name} {message}"):
        Batch("production", **{part: fields})
    with pytest.raises(InvalidRequest, match=rf"^batches\[4\]\.{part}\.{name} {message}"):
        encode_batch({"environment": "production", part: fields}, "batches[4]")


def test_a_refused_uuid_is_not_echoed() -> None:
    with pytest.raises(InvalidRequest) as raised:
        DeviceInfo(ios_advertising_id="not-my-real-idfa")
    assert "not-my-real-idfa" not in str(raised.value)
    assert "16 characters" in str(raised.value)


BAD_EVENT_PARTS: list[tuple[str, dict[str, Any], str]] = [
    ("location", {"latitude": 90.5}, r"location\.latitude must be a number from -90 to 90"),
    ("location", {"latitude": True}, r"location\.latitude must be a number"),
    ("location", {"longitude": -181}, r"location\.longitude must be a number from -180 to 180"),
    ("location", {"longitude": "74.0"}, r"location\.longitude must be a number"),
    ("location", {"accuracy": float("inf")}, r"location\.accuracy must be a finite number"),
    (
        "device_current_state",
        {"data_connection_type": "5g"},
        r"device_current_state\.data_connection_type must be one of offline, wifi, mobile",
    ),
    (
        "device_current_state",
        {"device_orientation": "sideways"},
        r"device_current_state\.device_orientation must be one of portrait",
    ),
    (
        "device_current_state",
        {"status_bar_orientation": True},
        r"device_current_state\.status_bar_orientation must be one of",
    ),
    (
        "device_current_state",
        {"gps_state": "on"},
        r"device_current_state\.gps_state must be a boolean or one of unknown, true, false",
    ),
]


@pytest.mark.parametrize(("part", "fields", "message"), BAD_EVENT_PARTS)
def test_a_bad_location_or_device_state_is_refused_naming_the_field(
    part: str, fields: dict[str, Any], message: str
) -> None:
    model = Location if part == "location" else DeviceCurrentState
    [name] = fields
    with pytest.raises(InvalidRequest, match=f"{model.__name__}.{name}"):
        model(**fields)
    # As a mapping in a typed event, and in a raw event of a typed or a raw batch.
    with pytest.raises(InvalidRequest, match=rf"CustomEvent\.{message}"):
        CustomEvent("tap", **{part: fields})
    raw_event = {"event_type": "session_start", "data": {part: fields}}
    with pytest.raises(InvalidRequest, match=rf"Batch\.events\[1\]\.data\.{message}"):
        Batch("production", events=[CustomEvent("tap"), raw_event])
    with pytest.raises(InvalidRequest, match=rf"batches\[0\]\.events\[0\]\.data\.{message}"):
        encode_batch({"environment": "production", "events": [raw_event]}, "batches[0]")


def test_a_location_source_outside_the_references_list_is_refused() -> None:
    raw_event = {"event_type": "uninstall", "data": {"location": {"location_source": "gps"}}}
    with pytest.raises(InvalidRequest, match=r"location_source must be one of unknown, ip_lookup"):
        encode_batch({"environment": "production", "events": [raw_event]})


def test_a_part_that_is_neither_a_model_nor_a_mapping_is_refused() -> None:
    with pytest.raises(InvalidRequest, match=r"Batch\.device_info must be a DeviceInfo or a"):
        Batch("production", device_info="iPhone")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match=r"location must be a Location or a mapping"):
        ScreenViewEvent("Home", location=[40.7, -74.0])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: PushMessageEvent(push_message_type="sent", application_state="asleep"),
            r"PushMessageEvent\.application_state must be one of not_running",
        ),
        (
            lambda: PushMessageEvent(push_message_type="sent", action_identifier="a" * 101),
            r"PushMessageEvent\.action_identifier has 101 characters, over the documented limit",
        ),
        (
            lambda: ProfileEvent(profile_event_type="signin"),
            r"ProfileEvent\.profile_event_type must be one of signup",
        ),
        (
            lambda: ApplicationStateTransitionEvent(application_transition_type=None),  # type: ignore[arg-type]
            r"application_transition_type must be one of",
        ),
    ],
)
def test_the_other_events_enumerations_and_limits_are_checked_typed(
    build: Any, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        build()


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {
                "event_type": "push_message",
                "data": {"push_message_type": "sent", "application_state": "asleep"},
            },
            r"data\.application_state must be one of not_running",
        ),
        (
            {
                "event_type": "push_message",
                "data": {"push_message_type": "sent", "action_identifier": "a" * 101},
            },
            r"data\.action_identifier has 101 characters",
        ),
        (
            {"event_type": "profile", "data": {"profile_event_type": "signin"}},
            r"data\.profile_event_type must be one of signup",
        ),
        (
            {
                "event_type": "push_registration",
                "data": {"register": "yes", "registration_token": "t"},
            },
            r"data\.register must be true or false",
        ),
        (
            {"event_type": "screen_view", "data": {"screen_name": ""}},
            r"data\.screen_name must be a non-empty string",
        ),
        (
            {
                "event_type": "commerce_event",
                "data": {
                    "product_action": {"action": "purchase"},
                    "product_impressions": [{"products": []}],
                },
            },
            r"data needs exactly one of product_action, promotion_action and product_impressions; got product_action, product_impressions",
        ),
        ({"event_type": "screen_view"}, r"data\.screen_name is required"),
    ],
)
def test_raw_events_meet_the_typed_models_rules(event: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=rf"Batch\.events\[0\]\.{message}"):
        Batch("production", events=[event])
    with pytest.raises(InvalidRequest, match=rf"batches\[9\]\.events\[0\]\.{message}"):
        encode_batch({"environment": "production", "events": [event]}, "batches[9]")


async def test_nothing_is_sent_when_one_batch_has_a_bad_device_info(
    mp: MParticle, emulator: Emulator
) -> None:
    good = {"environment": "production", "mpid": 1, "device_info": {"platform": "iOS"}}
    bad = {"environment": "production", "mpid": 2, "device_info": {"ios_idfv": "ABC"}}
    with pytest.raises(InvalidRequest, match=r"batches\[1\]\.device_info\.ios_idfv"):
        await mp.events.upload_many([good, bad])
    with pytest.raises(InvalidRequest, match=r"batch\.device_info\.ios_idfv"):
        await mp.events.upload(bad)
    assert emulator.state.event_batches == []

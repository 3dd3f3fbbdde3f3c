"""An independent oracle for the Events API: mParticle's official Python package.

The emulator and the client share ``mp_async/protocol.py``, so a wrong fact there passes every
other test. These tests check the client against a party that does not read it: the official
``mparticle`` package (a test-only dependency). The same batch built with both libraries must
give the same JSON, key by key and type by type; every key the client can emit must be one the
official models know; and a batch of every event type the official package can build must be
accepted by the client's checks and by the emulator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mparticle
import pytest
from mparticle import ApiClient
from mparticle.models.user_attribute_change_event import UserAttributeChangeEvent

from mp_async import MParticle
from mp_async.api.events import Batch, CustomEvent, ScreenViewEvent, encode_batch
from mp_async.converter import converter
from mp_async.emulator import Emulator
from mp_async.errors import InvalidRequest
from mp_async.protocol import EVENTS_CUSTOM_EVENT_TYPES, EVENTS_USER_IDENTITY_TYPES


def official_json(model: Any) -> Any:
    """What the official package sends for ``model``."""
    return ApiClient.sanitize_for_serialization(model)


def official_keys(model_class: type) -> set[str]:
    """The JSON keys an official model knows."""
    instance = model_class.__new__(model_class)
    try:
        instance.__init__()
    except ValueError:  # models with required arguments
        instance.__init__("x")
    return set(instance.attribute_map.values())


def assert_same_json(ours: Any, theirs: Any, path: str = "$") -> None:
    """Equal values of equal JSON types, key by key, naming the first place they differ."""
    assert type(ours) is type(theirs), f"{path}: {type(ours).__name__} vs {type(theirs).__name__}"
    if isinstance(ours, dict):
        assert set(ours) == set(theirs), f"{path}: keys {sorted(ours)} vs {sorted(theirs)}"
        for key in ours:
            assert_same_json(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(ours, list):
        assert len(ours) == len(theirs), f"{path}: {len(ours)} items vs {len(theirs)}"
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same_json(a, b, f"{path}[{index}]")
    else:
        assert ours == theirs, f"{path}: {ours!r} vs {theirs!r}"


def both_batches() -> tuple[Batch, Any]:
    """The same batch, with every field our models have, built with each library."""
    attributes = {"plan": "pro", "button": "buy"}
    flags = {"flag": "on"}
    ours = Batch(
        "development",
        user_identities={"customerid": "c-1", "email": "a@example.com"},
        user_attributes={"plan": "pro"},
        deleted_user_attributes=["old"],
        events=[
            CustomEvent(
                "Purchase",
                "transaction",
                custom_attributes=attributes,
                custom_flags=flags,
                timestamp_unixtime_ms=1_700_000_000_000,
                source_message_id="m-1",
                session_uuid="s-1",
            ),
            CustomEvent("Opened"),  # custom_event_type left at its default, "other"
            ScreenViewEvent(
                "Home",
                custom_attributes=attributes,
                custom_flags=flags,
                timestamp_unixtime_ms=1_700_000_000_001,
                source_message_id="m-2",
                session_uuid="s-1",
            ),
        ],
        mpid=7346244611012968789,
        ip="172.217.12.142",
        source_request_id="7fa67be4-f83a-429f-9d73-38b660c50825",
        device_info={"ios_idfv": "0f5b5e2b-6a43-4d3c-9b7e-0e9d6f3c2a11"},
        application_info={"application_name": "shop"},
    )

    theirs = mparticle.Batch()
    theirs.environment = "development"
    theirs.user_identities = mparticle.UserIdentities(customerid="c-1", email="a@example.com")
    theirs.user_attributes = {"plan": "pro"}
    theirs.deleted_user_attributes = ["old"]
    theirs.events = [
        mparticle.AppEvent(
            event_name="Purchase",
            custom_event_type="transaction",
            custom_attributes=attributes,
            custom_flags=flags,
            timestamp_unixtime_ms=1_700_000_000_000,
            source_message_id="m-1",
            session_uuid="s-1",
        ),
        mparticle.AppEvent(event_name="Opened"),
        mparticle.ScreenViewEvent(
            screen_name="Home",
            custom_attributes=attributes,
            custom_flags=flags,
            timestamp_unixtime_ms=1_700_000_000_001,
            source_message_id="m-2",
            session_uuid="s-1",
        ),
    ]
    theirs.mpid = 7346244611012968789
    theirs.ip = "172.217.12.142"
    theirs.source_request_id = "7fa67be4-f83a-429f-9d73-38b660c50825"
    theirs.device_info = mparticle.DeviceInformation(
        ios_idfv="0f5b5e2b-6a43-4d3c-9b7e-0e9d6f3c2a11"
    )
    theirs.application_info = mparticle.ApplicationInformation(application_name="shop")
    return ours, theirs


def test_the_same_batch_gives_the_same_json_as_the_official_package() -> None:
    ours, theirs = both_batches()
    assert_same_json(converter.unstructure(ours), official_json(theirs))


def test_the_bytes_we_send_decode_to_the_official_json() -> None:
    ours, theirs = both_batches()
    assert_same_json(json.loads(encode_batch(ours).body), official_json(theirs))


FIXTURES = Path(__file__).parent / "fixtures" / "events"
OPENAPI = json.loads((FIXTURES / "mparticle.events.oas.json").read_text())["components"]["schemas"]


def openapi_keys(name: str) -> set[str]:
    """The keys mParticle's events OpenAPI file gives a schema (its ``allOf`` parts included)."""
    schema = OPENAPI[name]
    keys = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        if "$ref" in part:
            keys |= openapi_keys(part["$ref"].rsplit("/", 1)[-1])
        keys |= set(part.get("properties", {}))
    return keys


def test_every_key_we_can_emit_is_one_the_official_models_know() -> None:
    batch_keys = official_keys(mparticle.Batch) | openapi_keys("Batch")
    for field in attrs_fields(Batch):
        assert field in batch_keys, f"Batch.{field} is not a key of the official Batch"
    event_models = {
        CustomEvent: mparticle.AppEvent,
        ScreenViewEvent: mparticle.ScreenViewEvent,
    }
    openapi_data = {CustomEvent: "CustomEventData", ScreenViewEvent: "ScreenViewEventData"}
    for ours, theirs in event_models.items():
        known = official_keys(theirs) | openapi_keys(openapi_data[ours])
        for field in attrs_fields(ours):
            assert field in known, f"{ours.__name__}.{field} is not a key of {theirs.__name__}"
    assert set(official_keys(mparticle.UserIdentities)) <= EVENTS_USER_IDENTITY_TYPES


def test_every_custom_event_type_the_official_package_allows_is_accepted() -> None:
    allowed = _official_custom_event_types()
    assert allowed <= set(EVENTS_CUSTOM_EVENT_TYPES)
    for custom_event_type in allowed:
        CustomEvent("e", custom_event_type)  # type: ignore[arg-type]


def _official_custom_event_types() -> set[str]:
    accepted = set()
    for candidate in {*EVENTS_CUSTOM_EVENT_TYPES, "unknown", "attribution", "media", "x-nope"}:
        event = mparticle.AppEvent(event_name="e")
        try:
            event.custom_event_type = candidate  # the setter checks; the constructor does not
        except ValueError:
            continue
        accepted.add(candidate)
    assert "x-nope" not in accepted
    return accepted


def attrs_fields(cls: type) -> list[str]:
    import attrs

    return [field.name for field in attrs.fields(cls)]


def official_batches_of_every_type() -> list[Any]:
    """One official batch per event type the official package can build."""
    product = mparticle.Product(id="sku-1", name="Shoe", price=9.5, quantity=2)
    events: list[Any] = [
        mparticle.AppEvent(event_name="Tap", custom_event_type="navigation"),
        mparticle.AppEvent.create_attribution_event("publisher-a", "campaign-b"),
        mparticle.ScreenViewEvent(screen_name="Home"),
        mparticle.SessionStartEvent(session_uuid="s-1", timestamp_unixtime_ms=1_700_000_000_000),
        mparticle.SessionEndEvent(session_duration_ms=1000),
        mparticle.CommerceEvent(
            mparticle.ProductAction(
                "purchase", transaction_id="t-1", total_amount=19.0, products=[product]
            )
        ),
        mparticle.CommerceEvent(
            promotion_action=mparticle.PromotionAction(
                "view", promotions=[mparticle.Promotion(id="p-1", name="Sale")]
            )
        ),
        mparticle.CommerceEvent(
            product_impressions=[
                mparticle.ProductImpression(product_impression_list="search", products=[product])
            ]
        ),
        mparticle.CrashReportEvent(class_name="Boom", message="failed"),
        mparticle.OptOutEvent(is_opted_out=True),
        mparticle.FirstRunEvent(),
        mparticle.ApplicationStateTransitionEvent(
            application_transition_type="application_initialized"
        ),
        mparticle.PushRegistrationEvent(register=True, registration_token="tok"),
        mparticle.PushMessageEvent(push_message_token="tok", push_message_type="received"),
        mparticle.NetworkPerformanceEvent(
            http_verb="GET", url="https://x.example", response_code=200
        ),
        mparticle.BreadcrumbEvent(label="step"),
        mparticle.ProfileEvent(profile_event_type="login"),
        UserAttributeChangeEvent(user_attribute_name="plan", new="pro", old="free"),
    ]
    batches = []
    for event in events:
        batch = mparticle.Batch()
        batch.environment = "development"
        batch.user_identities = mparticle.UserIdentities(customerid="c-1")
        batch.events = [event]
        document = official_json(batch)
        if isinstance(event, mparticle.CrashReportEvent):
            # The official Batch labels a crash report "commerce_event" (its event type table,
            # mparticle/models/batch.py); sent as what it is (see the test below).
            document["events"][0]["event_type"] = "crash_report"
        batches.append(document)
    # A profile update with no events, as the official SDK builds it.
    update = mparticle.Batch()
    update.environment = "production"
    update.user_identities = mparticle.UserIdentities(email="a@example.com")
    update.user_attributes = {"plan": "pro"}
    batches.append(official_json(update))
    return batches


def test_the_official_packages_mislabelled_crash_report_is_refused_as_a_commerce_event() -> None:
    batch = mparticle.Batch()
    batch.environment = "development"
    batch.events = [mparticle.CrashReportEvent(class_name="Boom", message="failed")]
    document = official_json(batch)
    assert document["events"][0]["event_type"] == "commerce_event"
    with pytest.raises(
        InvalidRequest, match=r"events\[0\]\.data needs exactly one of product_action"
    ):
        encode_batch(document)


def test_the_official_batches_cover_every_event_type_it_can_send() -> None:
    sent = {b["events"][0]["event_type"] for b in official_batches_of_every_type() if "events" in b}
    assert sent >= {
        "custom_event", "screen_view", "session_start", "session_end", "commerce_event",
        "opt_out", "first_run", "application_state_transition", "push_registration",
        "push_message", "network_performance", "breadcrumb", "profile", "user_attribute_change",
        "crash_report",
    }  # fmt: skip


async def test_every_official_batch_is_accepted_by_the_client_and_the_emulator(
    mp: MParticle, emulator: Emulator
) -> None:
    batches = official_batches_of_every_type()
    result = await mp.events.upload_many(batches)
    assert result.ok, (result.failed, result.server_errors)
    assert result.sent == len(batches)
    received = [
        {k: v for k, v in b.items() if k != "source_request_id"}
        for b in emulator.state.event_batches
    ]
    assert sorted(map(repr, received)) == sorted(map(repr, batches))


@pytest.mark.parametrize("index", range(len(official_batches_of_every_type())))
async def test_the_emulator_takes_each_official_batch_on_the_single_endpoint(
    mp: MParticle, emulator: Emulator, index: int
) -> None:
    batch = official_batches_of_every_type()[index]
    await mp.events.upload(batch)
    assert len(emulator.state.event_batches) == 1

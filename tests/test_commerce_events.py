"""Commerce and session events: typed, checked, and the same JSON as the official package's."""

from __future__ import annotations

from typing import Any

import mparticle
import pytest
from mparticle import ApiClient
from mparticle.models.user_attribute_change_event import (
    UserAttributeChangeEvent as UserAttributeChangeEventOfficial,
)

from mp_async.api.events import (
    Batch,
    CommerceEvent,
    Product,
    ProductAction,
    ProductImpression,
    Promotion,
    PromotionAction,
    SessionEndEvent,
    SessionStartEvent,
    encode_batch,
)
from mp_async.converter import converter
from mp_async.emulator import Emulator
from mp_async.errors import InvalidRequest
from mp_async.protocol import EVENTS_EVENT_TYPES, EVENTS_PRODUCT_ACTIONS
from mp_async.testing import client_for


def official(model: Any) -> Any:
    return ApiClient.sanitize_for_serialization(model)


def test_a_purchase_is_the_json_the_official_package_sends() -> None:
    ours = CommerceEvent(
        product_action=ProductAction(
            "purchase",
            products=[Product(id="sku-1", name="Lamp", price=19.5, quantity=2.0)],
            transaction_id="T-1",
            total_amount=39.0,
            tax_amount=3.5,
            shipping_amount=4.0,
            coupon_code="SPRING",
        ),
        currency_code="USD",
        timestamp_unixtime_ms=1_700_000_000_000,
    )
    theirs = mparticle.CommerceEvent(
        product_action=mparticle.ProductAction(
            "purchase",
            products=[mparticle.Product(id="sku-1", name="Lamp", price=19.5, quantity=2.0)],
            transaction_id="T-1",
            total_amount=39.0,
            tax_amount=3.5,
            shipping_amount=4.0,
            coupon_code="SPRING",
        ),
        currency_code="USD",
        timestamp_unixtime_ms=1_700_000_000_000,
    )
    assert converter.unstructure(ours) == {
        "event_type": "commerce_event",
        "data": official(theirs),
    }


def test_promotions_impressions_and_sessions_match_the_official_package() -> None:
    pairs = [
        (
            CommerceEvent(
                promotion_action=PromotionAction("click", [Promotion(id="p1", name="Sale")])
            ),
            mparticle.CommerceEvent(
                promotion_action=mparticle.PromotionAction(
                    "click", promotions=[mparticle.Promotion(id="p1", name="Sale")]
                )
            ),
        ),
        (
            CommerceEvent(
                product_impressions=[ProductImpression("search results", [Product(id="a")])]
            ),
            mparticle.CommerceEvent(
                product_impressions=[
                    mparticle.ProductImpression(
                        product_impression_list="search results",
                        products=[mparticle.Product(id="a")],
                    )
                ]
            ),
        ),
        (
            SessionStartEvent(session_uuid="s-1", timestamp_unixtime_ms=1),
            mparticle.SessionStartEvent(session_uuid="s-1", timestamp_unixtime_ms=1),
        ),
        (
            SessionEndEvent(session_uuid="s-1", session_duration_ms=6000),
            mparticle.SessionEndEvent(session_uuid="s-1", session_duration_ms=6000),
        ),
    ]
    for ours, theirs in pairs:
        unstructured = converter.unstructure(ours)
        assert unstructured["data"] == official(theirs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {
            "product_action": ProductAction("purchase"),
            "promotion_action": PromotionAction("view"),
        },
    ],
)
def test_a_commerce_event_needs_exactly_one_variation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest, match="exactly one of product_action"):
        CommerceEvent(**kwargs)


def test_actions_outside_the_documented_lists_are_refused_naming_them() -> None:
    with pytest.raises(InvalidRequest, match=r"ProductAction\.action must be one of .*purchase"):
        ProductAction("buy")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match=r"PromotionAction\.action must be one of view"):
        PromotionAction("hover")  # type: ignore[arg-type]
    assert "remove_from_wish_list" in EVENTS_PRODUCT_ACTIONS  # the JSON Reference's spelling


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"event_type": "purchase", "data": {}}, r"events\[0\]\.event_type must be one of"),
        (
            {"event_type": "commerce_event", "data": {"product_action": {"action": "buy"}}},
            r"events\[0\]\.data\.product_action\.action must be one of",
        ),
        (
            {"event_type": "commerce_event", "data": {"promotion_action": {"action": "hover"}}},
            r"events\[0\]\.data\.promotion_action\.action must be one of",
        ),
        (
            {"event_type": "custom_event", "data": {"event_name": "x"}},
            r"events\[0\]\.data\.custom_event_type must be one of",
        ),
    ],
)
def test_raw_events_meet_the_same_rules_before_anything_is_sent(
    event: dict[str, Any], message: str
) -> None:
    raw = {"environment": "production", "mpid": 1, "events": [event]}
    with pytest.raises(InvalidRequest, match=message):
        encode_batch(raw, "batches[3]")
    with pytest.raises(InvalidRequest, match=message):
        Batch("production", mpid=1, events=[event])


#: The least each event type's data node must carry: what its typed model requires.
REQUIRED_DATA: dict[str, dict[str, Any]] = {
    "custom_event": {"event_name": "x", "custom_event_type": "other"},
    "screen_view": {"screen_name": "Home"},
    "commerce_event": {"product_action": {"action": "purchase"}},
    "application_state_transition": {"application_transition_type": "application_exit"},
    "push_registration": {"register": True, "registration_token": "t"},
    "push_message": {"push_message_type": "received"},
    "breadcrumb": {"label": "step"},
    "user_attribute_change": {"user_attribute_name": "plan"},
}


def test_every_documented_event_type_is_accepted_raw() -> None:
    for event_type in EVENTS_EVENT_TYPES:
        data = REQUIRED_DATA.get(event_type, {})
        encode_batch(
            {"environment": "production", "events": [{"event_type": event_type, "data": data}]}
        )


@pytest.mark.parametrize(("event_type", "data"), sorted(REQUIRED_DATA.items()))
def test_each_required_field_of_a_raw_event_is_named_when_missing(
    event_type: str, data: dict[str, Any]
) -> None:
    for field in data:
        rest = {k: v for k, v in data.items() if k != field}
        events = [
            {"event_type": "session_start", "data": {}},
            {"event_type": event_type, "data": rest},
        ]
        raw = {"environment": "production", "events": events}
        with pytest.raises(InvalidRequest, match=rf"batches\[2\]\.events\[1\]\.data\b.*{field}"):
            encode_batch(raw, "batches[2]")
        with pytest.raises(InvalidRequest, match=rf"Batch\.events\[1\]\.data\b.*{field}"):
            Batch("production", events=events)


async def test_the_emulator_takes_a_session_with_a_purchase_in_it(mp_emulator: Emulator) -> None:
    batch = Batch(
        "production",
        user_identities={"customer_id": "12345"},
        events=[
            SessionStartEvent(session_uuid="s-1"),
            CommerceEvent(
                product_action=ProductAction("purchase", [Product(id="sku-1", price=9.5)]),
                session_uuid="s-1",
            ),
            SessionEndEvent(session_uuid="s-1", session_duration_ms=1200),
        ],
    )
    async with client_for(mp_emulator) as mp:
        await mp.events.upload(batch)
    [received] = mp_emulator.state.event_batches
    assert [e["event_type"] for e in received["events"]] == [
        "session_start",
        "commerce_event",
        "session_end",
    ]
    assert received["events"][1]["data"]["product_action"]["products"] == [
        {"id": "sku-1", "price": 9.5}
    ]


def test_consent_state_data_plan_and_the_other_batch_fields_match_the_official_package() -> None:
    consent = {
        "gdpr": {"marketing": {"consented": True, "document": "v2", "timestamp_unixtime_ms": 1}},
        "ccpa": {"data_sale_opt_out": {"consented": False, "timestamp_unixtime_ms": 1}},
    }
    plan = {"data_plan": {"plan_id": "checkout", "plan_version": 2}}
    ours = converter.unstructure(
        Batch(
            "production",
            mpid=7,
            consent_state=consent,
            context=plan,
            integration_attributes={"160": {"key": "value"}},
            mp_deviceid="d-1",
            schema_version=2,
            source_request_id="r-1",
        )
    )
    official_consent = mparticle.ConsentState()  # it takes no arguments: set afterwards
    official_consent.gdpr = {
        "marketing": mparticle.GDPRConsentState(
            consented=True, document="v2", timestamp_unixtime_ms=1
        )
    }
    official_consent.ccpa = {
        "data_sale_opt_out": mparticle.CCPAConsentState(consented=False, timestamp_unixtime_ms=1)
    }
    theirs = official(
        mparticle.Batch(
            environment="production",
            mpid=7,
            consent_state=official_consent,
            context=mparticle.BatchContext(
                data_plan=mparticle.DataPlanContext(plan_id="checkout", plan_version=2)
            ),
            integration_attributes={"160": {"key": "value"}},
            mp_deviceid="d-1",
            schema_version=2,
            source_request_id="r-1",
        )
    )
    assert ours == theirs


def test_every_other_event_type_is_the_json_the_official_package_sends() -> None:
    from mp_async.api.events import (
        ApplicationStateTransitionEvent,
        BreadcrumbEvent,
        CrashReportEvent,
        FirstRunEvent,
        NetworkPerformanceEvent,
        OptOutEvent,
        ProfileEvent,
        PushMessageEvent,
        PushRegistrationEvent,
        UserAttributeChangeEvent,
    )

    common = {"timestamp_unixtime_ms": 1_700_000_000_000, "session_uuid": "s-1", "event_id": 7}
    pairs: list[tuple[Any, Any]] = [
        (
            CrashReportEvent(class_name="E", message="boom", exception_handled=False, **common),
            mparticle.CrashReportEvent(
                class_name="E", message="boom", exception_handled=False, **common
            ),
        ),
        (
            OptOutEvent(is_opted_out=True, **common),
            mparticle.OptOutEvent(is_opted_out=True, **common),
        ),
        (FirstRunEvent(**common), mparticle.FirstRunEvent(**common)),
        (
            ApplicationStateTransitionEvent(
                application_transition_type="application_background", is_upgrade=False, **common
            ),
            mparticle.ApplicationStateTransitionEvent(
                application_transition_type="application_background", is_upgrade=False, **common
            ),
        ),
        (
            PushRegistrationEvent(register=True, registration_token="tok", **common),
            mparticle.PushRegistrationEvent(register=True, registration_token="tok", **common),
        ),
        (
            PushMessageEvent(push_message_type="received", message="hi", network="apn", **common),
            mparticle.PushMessageEvent(
                push_message_type="received", message="hi", network="apn", **common
            ),
        ),
        (
            NetworkPerformanceEvent(http_verb="GET", url="https://x", response_code=200, **common),
            mparticle.NetworkPerformanceEvent(
                http_verb="GET", url="https://x", response_code=200, **common
            ),
        ),
        (
            BreadcrumbEvent(label="checkout", session_number=3, **common),
            mparticle.BreadcrumbEvent(label="checkout", session_number=3, **common),
        ),
        (
            ProfileEvent(profile_event_type="login", profile_name="ada", **common),
            mparticle.ProfileEvent(profile_event_type="login", profile_name="ada", **common),
        ),
        (
            UserAttributeChangeEvent(user_attribute_name="plan", new="pro", old="free", **common),
            UserAttributeChangeEventOfficial(
                user_attribute_name="plan", new="pro", old="free", **common
            ),
        ),
    ]
    for ours, theirs in pairs:
        assert converter.unstructure(ours)["data"] == official(theirs), type(ours).__name__
    event_types = {converter.unstructure(ours)["event_type"] for ours, _ in pairs}
    assert event_types <= set(EVENTS_EVENT_TYPES)


def test_required_fields_and_enumerations_of_the_other_events_are_checked() -> None:
    from mp_async.api.events import (
        ApplicationStateTransitionEvent,
        BreadcrumbEvent,
        PushMessageEvent,
        PushRegistrationEvent,
    )

    with pytest.raises(InvalidRequest, match="application_transition_type must be one of"):
        ApplicationStateTransitionEvent(application_transition_type="application_crash")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="push_message_type must be one of sent"):
        PushMessageEvent(push_message_type="opened")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="label"):
        BreadcrumbEvent(label="")
    with pytest.raises(TypeError):
        PushRegistrationEvent(registration_token="t")  # type: ignore[call-arg]


def test_a_typed_consent_state_is_the_json_of_the_documented_mapping() -> None:
    from mp_async.api.events import Consent, ConsentState

    typed = ConsentState(
        gdpr={"marketing": Consent(True, document="v2", timestamp_unixtime_ms=1)},
        ccpa_data_sale_opt_out=Consent(False, timestamp_unixtime_ms=1),
    )
    documented = {
        "gdpr": {"marketing": {"consented": True, "document": "v2", "timestamp_unixtime_ms": 1}},
        "ccpa": {"data_sale_opt_out": {"consented": False, "timestamp_unixtime_ms": 1}},
    }
    ours = converter.unstructure(Batch("production", mpid=7, consent_state=typed))
    assert ours["consent_state"] == documented
    raw = converter.unstructure(Batch("production", mpid=7, consent_state=documented))
    assert ours == raw

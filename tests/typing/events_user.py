"""A worker's program: batches with lists of typed and raw events, receipts, a spool.

``mypy --strict`` checks it against the package (``.ci/package-check``): lists are accepted
where the models take tuples, receipts and spool options are typed, and a misspelt
enumeration value is a type error (the ``type: ignore`` below would be reported as unused if
it were not).
"""

from __future__ import annotations

import asyncio

from mp_async import MParticle
from mp_async.api.events import (
    ApplicationInfo,
    ApplicationStateTransitionEvent,
    Batch,
    CommerceEvent,
    Consent,
    ConsentState,
    CustomEvent,
    DeviceCurrentState,
    DeviceInfo,
    Location,
    Product,
    ProductAction,
    Receipt,
    ScreenViewEvent,
    SessionEndEvent,
    SessionStartEvent,
    UploadResult,
)
from mp_async.auth import BasicAuth


async def main() -> UploadResult:
    batch = Batch(
        "production",
        user_identities={"customer_id": "12345"},
        deleted_user_attributes=["trial_ends"],
        events=[
            CustomEvent("purchase", "transaction", custom_attributes={"sku": "A-1"}),
            ScreenViewEvent("checkout"),
            {"event_type": "session_start", "data": {}},
            SessionStartEvent(session_uuid="s-1"),
            CommerceEvent(
                product_action=ProductAction("purchase", [Product(id="sku-1", quantity=2)]),
                currency_code="GBP",
            ),
            SessionEndEvent(session_uuid="s-1", session_duration_ms=61_000),
            ApplicationStateTransitionEvent(application_transition_type="application_background"),
        ],
        consent_state=ConsentState(gdpr={"marketing": Consent(True, document="v2")}),
        context={"data_plan": {"plan_id": "checkout", "plan_version": 2}},
        device_info=DeviceInfo(
            platform="Android",
            android_advertising_id="613ff528-afd1-4c1b-9628-e6ed25ece9c0",
            att_authorization_status="authorized",
            is_tablet=False,
        ),
        application_info=ApplicationInfo(application_name="shop", os="Android"),
    )
    located = ScreenViewEvent(
        "map",
        location=Location(51.5, -0.12, accuracy=10.0),
        device_current_state=DeviceCurrentState(
            data_connection_type="wifi", gps_state=True, device_orientation="portrait"
        ),
    )
    raw_parts = Batch(
        "production",
        device_info={"platform": "iOS"},  # the documented mappings stay accepted
        application_info={"application_name": "shop"},
        events=[located, CustomEvent("tap", location={"latitude": 1.0, "longitude": 2.0})],
    )
    latitude: float | None = (
        located.location.latitude if isinstance(located.location, Location) else None
    )
    print(raw_parts, latitude)
    ProductAction("buy")  # type: ignore[arg-type]
    ApplicationStateTransitionEvent(application_transition_type="crashed")  # type: ignore[arg-type]
    CustomEvent("viewed", "navigaton")  # type: ignore[arg-type]
    Batch("prod")  # type: ignore[arg-type]
    DeviceInfo(platform="ios")  # type: ignore[arg-type]
    ApplicationInfo(os="iOS")  # type: ignore[arg-type]
    DeviceCurrentState(data_connection_type="5g")  # type: ignore[arg-type]
    DeviceCurrentState(device_orientation="sideways")  # type: ignore[arg-type]
    DeviceInfo(is_tablet="no")  # type: ignore[arg-type]
    Location("40.7", "-74.0")  # type: ignore[arg-type]
    async with MParticle(events_auth=BasicAuth("key", "secret")) as mp:
        accepted: list[str] = []

        def on_done(receipt: Receipt) -> None:
            if receipt.accepted:
                accepted.append(receipt.source_request_id)

        async with mp.events.uploader(spool="events.spool", durability="interval") as up:
            receipt = await up.add(batch)
            receipt.add_done_callback(on_done)
            source_request_id: str = await receipt
            print(source_request_id, receipt.durable, up.recovered)
        return await mp.events.upload_many(iter([batch, batch]))


if __name__ == "__main__":
    asyncio.run(main())

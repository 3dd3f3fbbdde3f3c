"""The Events API: batch models, single and bulk upload, chunking, delivery, the emulator."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import sys
import time
import uuid
from typing import Any

import aiohttp
import pytest
from conftest import client_for
from yarl import URL

from mp_async import Hosts, MParticle, RetryPolicy, Session
from mp_async.api.event_encoding import chunk_batches
from mp_async.api.events import Batch, CustomEvent, EventsAPI, ScreenViewEvent, encode_batch
from mp_async.auth import BasicAuth
from mp_async.auth.basic import basic_authorization
from mp_async.converter import converter
from mp_async.emulator import Emulator
from mp_async.emulator.events import duplicate_count, source_request_ids
from mp_async.errors import BadRequest, Forbidden, InvalidRequest, MissingCredentials, ServerError
from mp_async.protocol import EVENTS_MAX_BATCH_BYTES, EVENTS_MAX_REQUEST_BYTES
from mp_async.request import Request

FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05)
BULK_URL = "https://s2s.mparticle.com/v2/bulkevents"
EVENTS_URL = "https://s2s.mparticle.com/v2/events"
DAY_MS = 24 * 3600 * 1000


def profile_update(i: int) -> Batch:
    """A batch with no events: it only sets attributes of the user (as the Profiles doc shows)."""
    return Batch(
        "production",
        user_identities={"customer_id": f"cust-{i}"},
        user_attributes={"plan": "pro", "visits": i},
    )


def sent_bodies(mocked: Any, url: str) -> list[Any]:
    return [json.loads(call.kwargs["data"]) for call in mocked.requests[("POST", URL(url))]]


def events_requests(emu: Emulator) -> int:
    return sum(n for (_, route), n in emu.state.requests.items() if route.startswith("events."))


# --- models -------------------------------------------------------------------------------


def test_batch_json_has_the_documented_shape() -> None:
    batch = Batch(
        "development",
        user_identities={"email": "ada@example.com"},
        events=[
            CustomEvent("purchase", "transaction", {"sku": "A-1"}, timestamp_unixtime_ms=5),
            ScreenViewEvent("home"),
            {"event_type": "session_start", "data": {"session_uuid": "s-1"}},
        ],
        mpid=42,
    )

    assert converter.unstructure(batch) == {
        "environment": "development",
        "user_identities": {"email": "ada@example.com"},
        "events": [
            {
                "event_type": "custom_event",
                "data": {
                    "event_name": "purchase",
                    "custom_event_type": "transaction",
                    "custom_attributes": {"sku": "A-1"},
                    "timestamp_unixtime_ms": 5,
                },
            },
            {"event_type": "screen_view", "data": {"screen_name": "home"}},
            {"event_type": "session_start", "data": {"session_uuid": "s-1"}},
        ],
        "mpid": 42,
    }


@pytest.mark.parametrize(
    ("build", "names"),
    [
        (lambda: Batch("staging", mpid=1), "environment"),
        (lambda: Batch("production", user_identities={"customerId": "x"}), "customerId"),
        (
            lambda: Batch("production", mpid=1, user_attributes={str(i): i for i in range(101)}),
            "limit of 100",
        ),
        (lambda: Batch("production", mpid=True), "mpid"),
        (lambda: Batch("production", mpid=1, events=[{"data": {}}]), "event_type"),
        (lambda: CustomEvent("buy", "shopping"), "custom_event_type"),
        (lambda: ScreenViewEvent(""), "screen_name"),
    ],
)
def test_a_model_with_bad_fields_is_refused_at_construction(build: Any, names: str) -> None:
    with pytest.raises(InvalidRequest, match=names):
        build()


async def test_a_device_identity_is_enough_to_name_the_user(mp: MParticle, emulator: Emulator):
    # The JSON Reference's example IDFV: the documented device ids are UUIDs, and checked as such.
    idfv = "8c61383f-2216-4713-8c1c-1cb0a5d7a4cc"
    batch = Batch("production", device_info={"ios_idfv": idfv}, user_attributes={"a": 1})

    source_request_id = await mp.events.upload(batch)

    [stored] = emulator.state.event_batches
    assert stored["device_info"] == {"ios_idfv": idfv}
    assert stored["source_request_id"] == source_request_id


def test_chunks_never_pass_100_batches_or_256_kb() -> None:
    items = [encode_batch(profile_update(i)) for i in range(250)]
    big = [
        encode_batch(Batch("production", mpid=i + 1, user_attributes={"blob": "x" * 60_000}))
        for i in range(10)
    ]

    assert [len(c) for c in chunk_batches(items)] == [100, 100, 50]
    assert [len(c) for c in chunk_batches(big)] == [4, 4, 2]
    for chunk in chunk_batches(big):
        assert 2 + sum(len(i.body) for i in chunk) + len(chunk) - 1 <= EVENTS_MAX_REQUEST_BYTES


# --- upload -------------------------------------------------------------------------------


async def test_a_profile_update_without_events_is_uploaded(mp: MParticle, emulator: Emulator):
    source_request_id = await mp.events.upload(profile_update(1))

    [stored] = emulator.state.event_batches
    assert "events" not in stored
    assert stored["user_attributes"] == {"plan": "pro", "visits": 1}
    assert stored["source_request_id"] == source_request_id
    assert uuid.UUID(source_request_id).version == 4
    assert emulator.state.count("POST", "events.upload") == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks through libc")
def test_a_process_copied_without_python_s_fork_hooks_still_draws_its_own_ids() -> None:
    # uWSGI forks its workers this way unless py-call-osafterfork is on; a restored snapshot
    # is the same: nothing tells Python it is a copy, so ids cannot come from per-process state.
    parent = [encode_batch(profile_update(i)).source_request_id for i in range(3)]
    read, write = os.pipe()
    pid = ctypes.CDLL(None).fork()
    if pid == 0:  # the copy: write its ids for the parent, then leave at once, whatever happens
        try:
            ids = [encode_batch(profile_update(i)).source_request_id for i in range(3)]
            os.write(write, ",".join(ids).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split(",")
    os.waitpid(pid, 0)
    parent += [encode_batch(profile_update(i)).source_request_id for i in range(3)]

    assert len(child) == 3
    assert not set(child) & set(parent)
    assert len(set(parent)) == 6
    assert all(uuid.UUID(i).version == 4 for i in child + parent)


async def test_a_source_request_id_the_caller_set_is_kept(mp: MParticle, emulator: Emulator):
    batch = {"environment": "production", "mpid": 7, "source_request_id": "order-19"}

    assert await mp.events.upload(batch) == "order-19"
    assert emulator.state.event_batches[0]["source_request_id"] == "order-19"


async def test_the_source_request_id_is_kept_across_retries(mocked: Any) -> None:
    mocked.post(BULK_URL, status=503)
    mocked.post(BULK_URL, status=202)
    async with MParticle(events_auth=BasicAuth("key", "secret"), retry=FAST) as mp:
        result = await mp.events.upload_many([profile_update(1), profile_update(2)])

    first, second = sent_bodies(mocked, BULK_URL)
    assert [b["source_request_id"] for b in first] == [b["source_request_id"] for b in second]
    assert len({b["source_request_id"] for b in first}) == 2
    assert result.sent == 2 and result.ok


async def test_upload_many_splits_250_batches_into_100_100_and_50(mocked: Any) -> None:
    mocked.post(BULK_URL, status=202, repeat=True)
    async with MParticle(events_auth=BasicAuth("key", "secret")) as mp:
        result = await mp.events.upload_many([profile_update(i) for i in range(250)])

    bodies = sent_bodies(mocked, BULK_URL)
    assert sorted(len(body) for body in bodies) == [50, 100, 100]
    assert sorted(b["user_identities"]["customer_id"] for body in bodies for b in body) == sorted(
        f"cust-{i}" for i in range(250)
    )
    assert (result.sent, result.requests, result.failed) == (250, 3, ())


async def test_upload_many_splits_large_batches_by_size(mp: MParticle, emulator: Emulator):
    batches = [
        Batch("production", mpid=i + 1, user_attributes={"blob": "x" * 60_000}) for i in range(10)
    ]

    result = await mp.events.upload_many(batches)

    # The emulator answers 413 to a body over 256 KB: none was.
    assert (result.sent, result.requests, result.failed) == (10, 3, ())
    assert emulator.state.count("POST", "events.bulk") == 3
    assert len(emulator.state.event_batches) == 10


async def test_upload_many_sends_chunks_concurrently_within_the_bound(emulator: Emulator):
    emulator.faults.latency = 0.02
    async with client_for(emulator) as mp:
        result = await mp.events.upload_many(
            [profile_update(i) for i in range(1000)], concurrency=3
        )

    assert result.sent == 1000
    assert emulator.state.max_in_flight == 3


async def test_historical_batches_go_to_the_historical_endpoint(mp: MParticle, emulator: Emulator):
    old = int(time.time() * 1000) - 40 * DAY_MS
    batch = Batch("production", mpid=5, events=[CustomEvent("signup", timestamp_unixtime_ms=old)])

    result = await mp.events.upload_many([batch], historical=True)

    assert result.sent == 1
    assert emulator.state.count("POST", "events.historical") == 1
    assert emulator.state.count("POST", "events.bulk") == 0


def _too_big() -> Batch:
    return Batch("production", mpid=1, user_attributes={"blob": "x" * 130_000})


@pytest.mark.parametrize(
    ("bad", "historical", "names"),
    [
        ({"mpid": 1}, False, r"batches\[1\]\.environment is required"),
        (
            {
                "environment": "production",
                "mpid": 1,
                "user_attributes": {str(i): 1 for i in range(101)},
            },
            False,
            "documented limit of 100",
        ),
        ({"environment": "production", "user_identities": {"phone": "1"}}, False, "'phone'"),
        ({"environment": "production", "mpid": 1, "events": [{"data": {}}]}, False, r"events\[0\]"),
        (
            {"environment": "production", "mpid": 1, "user_attributes": {"s": {1, 2}}},
            False,
            "cannot be sent as JSON",
        ),
        (_too_big(), False, "128 KB"),
        ("not a batch", False, "must be a Batch or a mapping"),
        (profile_update(1), True, "must carry events"),
        (
            Batch("production", mpid=1, events=[CustomEvent("now", timestamp_unixtime_ms=1 << 60)]),
            True,
            "72 hours",
        ),
    ],
)
async def test_bad_input_raises_and_sends_nothing(
    emulator: Emulator, bad: Any, historical: bool, names: str
) -> None:
    old = int(time.time() * 1000) - 4 * DAY_MS
    good = Batch("production", mpid=9, events=[ScreenViewEvent("home", timestamp_unixtime_ms=old)])
    async with client_for(emulator) as mp:
        with pytest.raises(InvalidRequest, match=names):
            await mp.events.upload_many([good, bad, good], historical=historical)
        if not historical:
            with pytest.raises(InvalidRequest):
                await mp.events.upload(bad)

    assert events_requests(emulator) == 0


async def test_a_failed_chunk_hands_its_batches_back_with_their_ids(mocked: Any) -> None:
    mocked.post(
        BULK_URL, status=400, payload={"errors": [{"code": "BAD_REQUEST", "message": "no"}]}
    )
    mocked.post(BULK_URL, status=202, repeat=True)
    async with MParticle(events_auth=BasicAuth("key", "secret"), retry=FAST) as mp:
        result = await mp.events.upload_many([profile_update(i) for i in range(150)], concurrency=1)
        # Sent again, they keep their ids, so a downstream consumer can tell a repeat.
        again = await mp.events.upload_many([f.batch for f in result.failed])

    refused, accepted, resent = sent_bodies(mocked, BULK_URL)
    assert (result.sent, len(result.failed), again.sent) == (50, 100, 100) and not result.ok
    assert all(isinstance(f.error, BadRequest) for f in result.failed)
    assert [f.source_request_id for f in result.failed] == [b["source_request_id"] for b in refused]
    assert [f.batch.user_identities for f in result.failed] == [  # type: ignore[union-attr]
        b["user_identities"] for b in refused
    ]
    assert [b["source_request_id"] for b in resent] == [b["source_request_id"] for b in refused]
    assert {b["source_request_id"] for b in refused}.isdisjoint(
        b["source_request_id"] for b in accepted
    )


class FailsFirst:
    """Basic auth that raises an error of its own on its first use (a broken custom strategy)."""

    def __init__(self, inner: BasicAuth) -> None:
        self.inner = inner
        self.calls = 0

    async def apply(self, request: Request, sender: Any) -> Request:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("no key today")
        return await self.inner.apply(request, sender)


async def test_an_unexpected_error_in_one_chunk_hands_back_that_chunk_and_sends_the_rest(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    auth = FailsFirst(BasicAuth(emulator.state.api_key, emulator.state.api_secret))
    batches = [profile_update(i) for i in range(250)]
    async with Session(retry=FAST) as session:
        api = EventsAPI(session, auth, emulator.hosts)
        with caplog.at_level(logging.ERROR, logger="mp_async"):
            result = await api.upload_many(batches, concurrency=3)

    accepted = set(source_request_ids(emulator.state))
    failed = {f.source_request_id for f in result.failed}
    assert (result.sent, len(result.failed), result.requests) == (150, 100, 3)
    assert all(isinstance(f.error, RuntimeError) for f in result.failed)
    assert len(accepted) == len(emulator.state.event_batches) == 150
    assert accepted.isdisjoint(failed) and len(accepted | failed) == 250
    assert any(r.exc_info and "100 batches" in r.getMessage() for r in caplog.records)


async def test_refusals_reported_in_a_202_are_returned(mocked: Any) -> None:
    refusal = {"errors": [{"code": "BAD_REQUEST", "message": "batch 0: too old"}]}
    mocked.post(BULK_URL, status=202, payload=refusal)
    async with MParticle(events_auth=BasicAuth("key", "secret")) as mp:
        result = await mp.events.upload_many([profile_update(1)])

    assert result.sent == 1 and not result.ok
    assert [e.message for e in result.server_errors] == ["batch 0: too old"]


async def test_a_wrong_secret_is_refused_and_never_shown(emulator: Emulator) -> None:
    secret = "not-the-secret-0123"
    async with client_for(emulator, events_auth=BasicAuth(emulator.state.api_key, secret)) as mp:
        with pytest.raises(Forbidden) as raised:
            await mp.events.upload(profile_update(1))
        result = await mp.events.upload_many([profile_update(2)])
        shown = (
            f"{raised.value} {raised.value!r} {result!r} {mp!r} {mp.events!r} {mp.events_auth!r}"
        )

    assert isinstance(result.failed[0].error, Forbidden)
    assert secret not in shown
    assert emulator.state.count("POST", "events.bulk") == 1  # a 403 is not retried


async def test_the_events_api_needs_events_auth(emulator: Emulator) -> None:
    async with client_for(emulator, events_auth=None) as mp:
        with pytest.raises(MissingCredentials, match="events_auth"):
            await mp.events.upload(profile_update(1))
        with pytest.raises(MissingCredentials):
            mp.events.uploader()


async def test_the_api_works_alone_on_a_session(emulator: Emulator) -> None:
    auth = BasicAuth(emulator.state.api_key, emulator.state.api_secret)
    async with Session() as session:
        source_request_id = await EventsAPI(session, auth, emulator.hosts).upload(profile_update(1))

    assert [b["source_request_id"] for b in emulator.state.event_batches] == [source_request_id]
    assert emulator.state.count("POST", "events.upload") == 1
    assert "s2s.eu1.mparticle.com/v2/bulkevents" in repr(EventsAPI(session, auth, Hosts.eu1()))


@pytest.mark.parametrize("concurrency", [0, True, 1.5])
async def test_upload_many_refuses_a_concurrency_that_is_not_a_positive_integer(
    mp: MParticle, emulator: Emulator, concurrency: Any
) -> None:
    with pytest.raises(InvalidRequest, match="concurrency must be an integer >= 1"):
        await mp.events.upload_many([profile_update(1)], concurrency=concurrency)

    assert events_requests(emulator) == 0


@pytest.mark.faults
async def test_upload_many_loses_no_batch_when_a_fifth_of_requests_fail() -> None:
    # Two attempts a request, so some chunks fail twice and come back.
    retry = RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.02)
    batches = [Batch("production", mpid=i + 1) for i in range(1000)]
    async with Emulator(seed=3) as emu, client_for(emu, retry=retry) as mp:
        emu.faults.error_rate_503, emu.faults.error_rate_500 = 0.15, 0.05
        result = await mp.events.upload_many(batches, concurrency=4)

    accepted = set(source_request_ids(emu.state))
    failed = {f.source_request_id for f in result.failed}
    assert result.sent + len(result.failed) == len(batches)
    assert len(accepted) == len(emu.state.event_batches) == result.sent
    assert accepted.isdisjoint(failed) and len(accepted | failed) == 1000
    assert all(isinstance(f.error, ServerError) for f in result.failed)
    assert emu.state.statuses[503] + emu.state.statuses[500] > 0


# --- the emulator's endpoints -------------------------------------------------------------


def _auth(emu: Emulator, secret: str | None = None) -> dict[str, str]:
    return {"Authorization": basic_authorization(emu.state.api_key, secret or emu.state.api_secret)}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ([{"environment": "production", "mpid": i + 1} for i in range(101)], 400),
        (
            [
                {"environment": "production", "mpid": 1, "user_attributes": {"b": "x" * 130_000}},
                {"environment": "production", "mpid": 2, "user_attributes": {"b": "x" * 130_000}},
            ],
            413,
        ),
        ({"environment": "production", "mpid": 1}, 400),
    ],
    ids=["101 batches", "over 256 KB", "not an array"],
)
async def test_the_emulator_refuses_bulk_requests_over_the_limits(
    emulator: Emulator, body: Any, status: int
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{emulator.url}/events/v2/bulkevents", json=body, headers=_auth(emulator)
        ) as reply,
    ):
        assert reply.status == status
        assert (await reply.json())["errors"][0]["message"]
    assert emulator.state.event_batches == []


async def test_the_emulator_checks_basic_auth(emulator: Emulator) -> None:
    url = f"{emulator.url}/events/v2/events"
    batch = {"environment": "production", "mpid": 1}
    wrong = _auth(emulator, secret="nope")
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=batch) as reply:
            assert reply.status == 401
        async with http.post(url, json=batch, headers=wrong) as reply:
            assert reply.status == 403
        async with http.post(url, json=batch, headers=_auth(emulator)) as reply:
            assert reply.status == 202
    assert len(emulator.state.event_batches) == 1


async def test_the_emulator_accepts_part_of_a_bulk_request_and_counts_duplicates(
    emulator: Emulator,
) -> None:
    good = {"environment": "production", "mpid": 1, "source_request_id": "r-1"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{emulator.url}/events/v2/bulkevents",
            json=[good, {"environment": "staging", "mpid": 1}, good],
            headers=_auth(emulator),
        ) as reply,
    ):
        assert reply.status == 202
        assert "batch 1" in (await reply.json())["errors"][0]["message"]

    assert len(emulator.state.event_batches) == 2
    assert duplicate_count(emulator.state) == 1


def _numbers_batch(count: int) -> bytes:
    """A batch sent as compact JSON with ``count`` numbers written ``1e9`` (three bytes each).

    Decoded and encoded again they are ``1000000000.0``: four times the bytes received.
    """
    numbers = ",".join(["1e9"] * count)
    return (
        '{"environment":"production","mpid":1,"user_attributes":{"n":[' + numbers + "]}}"
    ).encode()


@pytest.mark.parametrize(
    ("path", "wrap"),
    [("/events/v2/events", False), ("/events/v2/bulkevents", True)],
    ids=["one batch", "bulk"],
)
async def test_the_emulator_measures_a_batch_by_the_bytes_it_received(
    emulator: Emulator, path: str, wrap: bool
) -> None:
    body = _numbers_batch(30_000)
    if wrap:
        body = b"[" + body + b"]"
    assert len(body) <= EVENTS_MAX_BATCH_BYTES < len(json.dumps(json.loads(body)))
    headers = {**_auth(emulator), "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emulator.url}{path}", data=body, headers=headers) as reply,
    ):
        assert reply.status == 202
        assert await reply.read() == b""

    assert len(emulator.state.event_batches) == 1


async def test_the_emulator_refuses_one_oversized_batch_in_a_larger_bulk_body(
    emulator: Emulator,
) -> None:
    big = {"environment": "production", "mpid": 1, "user_attributes": {"b": "x" * 130_000}}
    small = {"environment": "production", "mpid": 2}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{emulator.url}/events/v2/bulkevents", json=[big, small], headers=_auth(emulator)
        ) as reply,
    ):
        assert reply.status == 202
        [error] = (await reply.json())["errors"]
        assert error["message"].startswith("batch 0:")

    assert [b["mpid"] for b in emulator.state.event_batches] == [2]


# --- what mParticle's own sources say (issue: wire truth) ---------------------------------


def test_a_custom_event_of_type_other_carries_its_required_type() -> None:
    # custom_event_type is required (JSON Reference, schema, OpenAPI), its default included.
    document = converter.unstructure(Batch("production", mpid=1, events=[CustomEvent("tap")]))
    assert document["events"][0]["data"]["custom_event_type"] == "other"


@pytest.mark.parametrize("custom_event_type", ["attribution", "media", "unknown"])
async def test_every_documented_custom_event_type_is_accepted_end_to_end(
    mp: MParticle, emulator: Emulator, custom_event_type: str
) -> None:
    event = CustomEvent("attribution", custom_event_type)  # type: ignore[arg-type]
    await mp.events.upload(Batch("production", mpid=1, events=[event]))
    data = emulator.state.event_batches[-1]["events"][0]["data"]
    assert data["custom_event_type"] == custom_event_type


@pytest.mark.parametrize("key", ["customerid", "customer_id"])
async def test_both_customer_id_spellings_are_sent_as_written(
    mp: MParticle, emulator: Emulator, key: str
) -> None:
    # customer_id: the Events API's JSON schema and OpenAPI file, Go, Java; customerid: the
    # official Python, Node and Ruby SDKs and the docs' "Profiles" page examples.
    await mp.events.upload({"environment": "production", "user_identities": {key: "c-1"}})
    assert emulator.state.event_batches[-1]["user_identities"] == {key: "c-1"}


@pytest.mark.parametrize(
    "batch",
    [
        {"environment": "production", "mp_deviceid": "0f5b5e2b-6a43-4d3c-9b7e-0e9d6f3c2a11"},
        {"environment": "production", "partner_identities": {"partner_a": "p-1"}},
        {
            "environment": "production",
            "device_info": {"ios_advertising_id": "613ff528-afd1-4c1b-9628-e6ed25ece9c0"},
        },
        {"environment": "production", "user_attributes": {"plan": "pro"}},
    ],
    ids=["mp_deviceid", "partner_identities", "device identity", "environment only"],
)
async def test_a_batch_needs_only_what_the_schema_requires(
    mp: MParticle, emulator: Emulator, batch: dict[str, Any]
) -> None:
    await mp.events.upload(batch)
    assert emulator.state.event_batches[-1] == {**batch, "source_request_id": ANY_STR}


class _AnyStr(str):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)

    __hash__ = str.__hash__


ANY_STR = _AnyStr()


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"event_name": "tap"}, "custom_event_type"),
        ({"event_name": "tap", "custom_event_type": "shopping"}, "custom_event_type"),
        ({"custom_event_type": "other"}, "event_name"),
    ],
)
async def test_the_emulator_refuses_a_custom_event_the_schema_refuses(
    emulator: Emulator, data: dict[str, Any], names: str
) -> None:
    batch = {"environment": "production", "events": [{"event_type": "custom_event", "data": data}]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emulator.url}/events/v2/events", json=batch, headers=_auth(emulator)) as reply,
    ):
        assert reply.status == 400
        assert names in (await reply.json())["errors"][0]["message"]

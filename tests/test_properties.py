"""Properties, with hypothesis: Retry-After parsing, HMAC signing against the emulator's
verifier (pure, and over the wire), and models round-tripping through the converter."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mp_async import Request, RetryPolicy, Session, _json
from mp_async.api.groups import Group, GroupAttribute, GroupDefinition
from mp_async.api.identity import IdentityResult, decode_result
from mp_async.api.platform import (
    AccessKey,
    App,
    AppPlatform,
    Audience,
    AudienceOutput,
    PlatformWorkspace,
)
from mp_async.api.profiles import Attribution, AudienceMembership, Identity, Profile
from mp_async.auth import HmacDigestAuth
from mp_async.auth.hmac import format_date, sign
from mp_async.converter import converter, structure
from mp_async.emulator import Emulator
from mp_async.emulator.identity import expected_signature, parse_date
from mp_async.errors import APIError, UnexpectedResponse
from mp_async.retry import Failure, parse_retry_after, retry_waits

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=timezone.utc)

# --- Retry-After -------------------------------------------------------------------------


@given(st.text())
def test_any_retry_after_text_parses_to_none_or_a_wait_that_is_never_negative(text: str) -> None:
    wait = parse_retry_after(text, now=NOW)
    assert wait is None or (isinstance(wait, float) and wait >= 0.0)


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["", " ", "\t"]))
def test_whole_seconds_are_read_as_they_are(seconds: int, padding: str) -> None:
    assert parse_retry_after(f"{padding}{seconds}{padding}", now=NOW) == float(seconds)


@given(st.floats(min_value=0.0, allow_nan=False, allow_infinity=False))
def test_decimal_seconds_are_read_exactly(seconds: float) -> None:
    assert parse_retry_after(repr(seconds), now=NOW) == seconds


@given(st.floats(max_value=-0.0, allow_nan=False))
def test_a_negative_wait_means_retry_now(seconds: float) -> None:
    assert parse_retry_after(str(seconds), now=NOW) == 0.0


@given(st.integers(min_value=-(10**8), max_value=10**8))
def test_an_http_date_is_the_seconds_until_it_and_a_past_one_is_zero(offset: int) -> None:
    header = format_datetime(NOW + timedelta(seconds=offset), usegmt=True)
    assert parse_retry_after(header, now=NOW) == max(float(offset), 0.0)


@given(
    st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    st.integers(min_value=0, max_value=2**32),
)
def test_a_server_directed_wait_is_waited_in_full_with_no_jitter(
    retry_after: float, seed: int
) -> None:
    waits = retry_waits(RetryPolicy(backoff_max=1.0), random.Random(seed))
    waits.send(Failure(503))
    assert waits.send(Failure(429, retry_after=retry_after)) == retry_after


@given(
    st.floats(min_value=0.001, max_value=10.0),
    st.floats(min_value=0.001, max_value=60.0),
    st.integers(min_value=1, max_value=30),
    st.integers(min_value=0, max_value=2**32),
)
def test_backoff_waits_stay_within_the_exponential_ceiling(
    base: float, cap: float, failures: int, seed: int
) -> None:
    waits = retry_waits(RetryPolicy(backoff_base=base, backoff_max=cap), random.Random(seed))
    for n in range(failures):
        wait = waits.send(Failure(None))
        assert 0.0 <= wait <= min(base * 2**n, cap) + 1e-9


# --- HMAC signing ------------------------------------------------------------------------

methods = st.sampled_from(["POST", "GET", "PUT", "PATCH", "DELETE", "post"])
epochs = st.floats(min_value=0, max_value=4102444800, allow_nan=False)  # 1970 to 2100
date_styles = st.sampled_from(["iso8601", "rfc1123"])
# A path as it goes on the wire: segments of unreserved and percent-encoded characters.
paths = st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=5).map(
    lambda segments: "/" + "/".join(quote(s, safe="") for s in segments)
)
secrets = st.text(min_size=1, max_size=64)


@given(secrets, methods, epochs, date_styles, paths, st.binary(max_size=2048))
def test_the_client_signature_is_what_the_emulator_expects_for_any_request(
    secret: str, method: str, epoch: float, style: Any, path: str, body: bytes
) -> None:
    date = format_date(epoch, style)
    signature = sign(secret, method, date, path, body)
    assert signature == expected_signature(secret, method.upper(), date, path, body)
    assert len(signature) == 64 and signature == signature.lower()
    # The emulator reads both date forms back to the instant that was signed.
    parsed = parse_date(date)
    assert parsed is not None and abs(parsed.timestamp() - epoch) <= 1


@given(secrets, st.binary(max_size=64), st.binary(min_size=1, max_size=64))
def test_changing_the_body_changes_the_signature(secret: str, body: bytes, extra: bytes) -> None:
    date = format_date(0)
    assert sign(secret, "POST", date, "/v1/identify", body) != sign(
        secret, "POST", date, "/v1/identify", body + extra
    )


# A path segment the emulator routes to its signature check, /v1/{segment}/modify: aiohttp's
# route placeholders match anything but "/", "{" and "}"; "." and ".." are path syntax.
segments = st.text(min_size=1, max_size=24).filter(
    lambda s: not set(s) & set("/{}") and s not in (".", "..")
)


@settings(
    max_examples=40,
    deadline=None,
    # One emulator serves every example: its state may build up, which is fine here.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=st.binary(max_size=4096),
    segment=segments,
    skew=st.integers(min_value=-200, max_value=200),
    style=date_styles,
)
async def test_any_body_path_and_date_signed_by_the_client_verifies_at_the_emulator(
    emulator: Emulator, body: bytes, segment: str, skew: int, style: Any
) -> None:
    state = emulator.state
    auth = HmacDigestAuth(
        state.api_key, state.api_secret, date_format=style, clock=lambda: time.time() + skew
    )
    url = f"{emulator.hosts.identity}/v1/{quote(segment, safe='')}/modify"
    request = Request("POST", url, body=body, bucket="identity")
    verified = len(state.identity.signed_requests)
    async with Session(retry=RetryPolicy.never()) as session:
        try:
            await session.send(request, auth)
        except APIError as exc:
            assert exc.status != 401, exc  # anything but "the signature does not match"
    assert len(state.identity.signed_requests) == verified + 1


# --- models through the converter --------------------------------------------------------

int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
texts = st.text(max_size=30)
optional_texts = st.none() | texts
aware_datetimes = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
optional_datetimes = st.none() | aware_datetimes
json_values = st.recursive(
    st.none() | st.booleans() | int64 | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(texts, json_values, max_size=5)


def tuples(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(strategy, max_size=3).map(tuple)


identities = st.builds(Identity, type=texts, value=optional_texts, encoding=texts)
profiles = st.builds(
    Profile,
    mpid=int64,
    device_identities=tuples(identities),
    user_identities=tuples(identities),
    user_attributes=json_objects,
    audience_memberships=tuples(
        st.builds(
            AudienceMembership,
            audience_id=int64,
            audience_name=optional_texts,
            public_audience_name=optional_texts,
            expiration_timestamp_ms=st.none() | int64,
        )
    ),
    attribution=tuples(
        st.builds(
            Attribution,
            campaign=optional_texts,
            campaign_id=optional_texts,
            publisher=optional_texts,
            publisher_id=optional_texts,
            timestamp_ms=st.none() | int64,
        )
    ),
)
group_attributes = st.builds(GroupAttribute, id=texts, type=texts)
groups = st.builds(
    Group,
    id=texts,
    source_user_attribute=texts,
    attributes=st.lists(group_attributes, max_size=3),
    description=texts,
    created_on=optional_datetimes,
    created_by=optional_texts,
    last_modified_on=optional_datetimes,
    last_modified_by=optional_texts,
)
definitions = st.builds(
    GroupDefinition,
    id=texts,
    source_user_attribute=texts,
    attributes=st.lists(group_attributes, max_size=3),
    description=texts,
)
apps = st.builds(
    App,
    id=int64,
    name=optional_texts,
    platforms=tuples(
        st.builds(
            AppPlatform,
            os=optional_texts,
            application_id=st.none() | int64,
            access_keys=tuples(
                st.builds(
                    AccessKey, key=optional_texts, secret=optional_texts, data_type=optional_texts
                )
            ),
            profile_merging=st.none() | st.booleans(),
            push_attribution_timer=st.none() | int64,
            created_on=optional_datetimes,
        )
    ),
    created_on=optional_datetimes,
    last_modified_on=optional_datetimes,
)
workspaces = st.builds(
    PlatformWorkspace, id=int64, name=optional_texts, created_on=optional_datetimes
)
audiences = st.builds(
    Audience,
    id=int64,
    name=optional_texts,
    size=st.none() | int64,
    is_calculated=st.none() | st.booleans(),
    created_on=optional_datetimes,
    workspaces=tuples(workspaces),
    connected_outputs=tuples(
        st.builds(AudienceOutput, provider_name=optional_texts, configurations=tuples(json_objects))
    ),
)

MODELS = {
    "Profile": profiles,
    "Group": groups,
    "GroupDefinition": definitions,
    "App": apps,
    "PlatformWorkspace": workspaces,
    "Audience": audiences,
}


def through_the_wire(model: Any) -> Any:
    """The model as JSON bytes and back to a document, as a reply would carry it."""
    return _json.loads(_json.dumps(converter.unstructure(model)))


@pytest.mark.parametrize("strategy", MODELS.values(), ids=MODELS.keys())
@given(data=st.data())
def test_a_model_survives_a_round_trip_through_json_and_the_converter(
    strategy: st.SearchStrategy[Any], data: st.DataObject
) -> None:
    model = data.draw(strategy)
    assert structure(through_the_wire(model), type(model)) == model


@given(
    st.builds(
        IdentityResult,
        mpid=int64,
        context=optional_texts,
        matched_identities=st.dictionaries(texts, texts, max_size=3),
        is_ephemeral=st.booleans(),
        is_logged_in=st.booleans(),
    )
)
def test_an_identity_result_survives_the_wire_with_its_mpid_as_a_string(
    result: IdentityResult,
) -> None:
    document = through_the_wire(result)
    document["mpid"] = str(result.mpid)  # as mParticle sends it
    assert decode_result(document) == result


@pytest.mark.parametrize("model", [Profile, Group, App, Audience, PlatformWorkspace])
@given(document=json_values)
def test_any_json_document_decodes_to_the_model_or_raises_unexpected_response(
    model: type, document: Any
) -> None:
    try:
        decoded = structure(document, model)
    except UnexpectedResponse as exc:
        assert len(exc.body_excerpt) <= 301
    else:
        assert isinstance(decoded, model)


@given(document=json_values)
def test_any_json_document_decodes_to_an_identity_result_or_raises_unexpected_response(
    document: Any,
) -> None:
    try:
        decode_result(document)
    except UnexpectedResponse:
        pass


# --- replies of the wrong type are errors, never coerced (hardening) ------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("is_ephemeral", "false"),  # bool("false") would be True
        ("is_logged_in", 1),
        ("mpid", 1.5),  # int(1.5) would be 1
        ("mpid", True),
        ("mpid", "12a"),
        ("context", {"a": 1}),
    ],
)
def test_a_reply_field_of_the_wrong_type_is_unexpected_not_coerced(field: str, value: Any) -> None:
    from mp_async.api.identity import IdentityResult
    from mp_async.converter import structure
    from mp_async.errors import UnexpectedResponse

    document = {"mpid": "42", field: value}
    with pytest.raises(UnexpectedResponse):
        structure(document, IdentityResult)


@pytest.mark.parametrize(("value", "expected"), [("42", 42), (42, 42), (42.0, 42), ("-7", -7)])
def test_an_integer_written_as_text_or_a_whole_number_is_read(value: Any, expected: int) -> None:
    from mp_async.api.identity import IdentityResult
    from mp_async.converter import structure

    assert structure({"mpid": value}, IdentityResult).mpid == expected

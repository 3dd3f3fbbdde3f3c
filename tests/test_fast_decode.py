"""Profile replies decoded by msgspec (the ``speedups`` extra) are exactly what cattrs gives.

msgspec takes a reply only as it is; anything it refuses goes the usual way (orjson or json,
then the converter), which reads the lenient forms or raises ``UnexpectedResponse``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import msgspec  # noqa: F401  (the test extra installs the speedups: these tests must run)
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mp_async.api.profiles import Profile, _decode_profile
from mp_async.converter import FastDecoder, structure
from mp_async.errors import UnexpectedResponse
from mp_async.request import Response


@pytest.fixture(autouse=True)
def _speedups_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MP_ASYNC_JSON", raising=False)  # these tests are about msgspec's path


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),  # beyond 64 bits too
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(["12", "-7", "1.5", "x"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


def sometimes(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The right kind of value most of the time, anything now and then."""
    return st.one_of(strategy, strategy, strategy, values)


identity = st.fixed_dictionaries(
    {"type": sometimes(st.sampled_from(["email", "customer_id", "ios_idfa"]))},
    optional={
        "value": sometimes(st.text(max_size=8) | st.none()),
        "encoding": sometimes(st.just("none")),
    },
)
audience = st.fixed_dictionaries(
    {"audience_id": sometimes(st.integers(0, 10**6))},
    optional={
        "audience_name": sometimes(st.text(max_size=8) | st.none()),
        "expiration_timestamp_ms": sometimes(st.integers(0, 2**42) | st.none()),
    },
)
attribution = st.fixed_dictionaries(
    {},
    optional={
        "campaign": sometimes(st.text(max_size=8) | st.none()),
        "timestamp_ms": sometimes(st.integers(0, 2**42) | st.none()),
    },
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "mpid": sometimes(st.integers(-(2**63), 2**64 - 1) | st.integers(2**64, 2**70)),
        "device_identities": sometimes(st.lists(sometimes(identity), max_size=3)),
        "user_identities": sometimes(st.lists(sometimes(identity), max_size=3)),
        "user_attributes": sometimes(st.dictionaries(st.text(max_size=5), values, max_size=4)),
        "audience_memberships": sometimes(st.lists(sometimes(audience), max_size=2)),
        "attribution": sometimes(st.lists(sometimes(attribution), max_size=2)),
        "is_opted_out": sometimes(st.booleans() | st.none()),
        "created_timestamp_ms": sometimes(st.integers(0, 2**42) | st.none()),
        "account_user_attributes": sometimes(
            st.dictionaries(st.text(max_size=3), values) | st.none()
        ),
        "something_new": values,  # a field the server added: ignored both ways
    },
)


def converter_result(body: bytes) -> str:
    try:
        return repr(structure(json.loads(body), Profile))  # repr: True and 1, 1.0 and 1 differ
    except UnexpectedResponse:
        return "refused"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_what_msgspec_accepts_is_what_the_converter_gives(document: dict[str, Any]) -> None:
    body = json.dumps(document).encode()
    fast = FastDecoder(Profile).decode(body)
    if fast is not None:
        assert repr(fast) == converter_result(body)
        assert isinstance(fast.device_identities, tuple)


def test_a_plain_reply_is_taken_by_msgspec() -> None:
    body = b'{"mpid": 5, "user_identities": [{"type": "email", "value": "a@b.c"}]}'
    profile = FastDecoder(Profile).decode(body)
    assert profile is not None and profile.identity("email") == "a@b.c"


@pytest.mark.parametrize(
    "body",
    [
        b'{"mpid": "5"}',  # an id written as a string
        b'{"mpid": 5.0}',  # a whole number written as a float
        b'{"mpid": 5, "device_identities": [{"type": 7}]}',  # a type written as a number
    ],
)
def test_lenient_forms_are_left_to_the_converter_which_reads_them(body: bytes) -> None:
    assert FastDecoder(Profile).decode(body) is None
    reply = Response(200, None, body, "GET", "/userprofile/v1/1/2/3/5")  # type: ignore[arg-type]
    assert _decode_profile(reply).mpid == 5


@pytest.mark.parametrize(
    "body",
    [b'{"mpid": true}', b'{"mpid": 1, "user_attributes": null}', b"[1]", b"not json", b""],
)
def test_replies_of_the_wrong_shape_are_refused_naming_the_call(body: bytes) -> None:
    reply = Response(200, None, body, "GET", "/userprofile/v1/1/2/3/5")  # type: ignore[arg-type]
    with pytest.raises(UnexpectedResponse, match="GET /userprofile/v1/1/2/3/5"):
        _decode_profile(reply)


def test_the_documented_spelling_of_account_attributes_is_read() -> None:
    body = b'{"mpid": 5, "account_userattributes": {"tier": "gold"}}'
    reply = Response(200, None, body, "GET", "/p")  # type: ignore[arg-type]
    assert _decode_profile(reply).account_user_attributes == {"tier": "gold"}


def test_deep_nesting_is_refused_either_way() -> None:
    body = b'{"mpid": 1, "user_attributes": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    assert FastDecoder(Profile).decode(body) is None
    with pytest.raises(UnexpectedResponse):
        _decode_profile(Response(200, None, body, "GET", "/p"))  # type: ignore[arg-type]


def test_without_msgspec_or_with_stdlib_json_the_converter_decodes_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = b'{"mpid": 5}'
    monkeypatch.setitem(sys.modules, "msgspec", None)  # import msgspec raises ImportError
    assert FastDecoder(Profile).decode(body) is None
    monkeypatch.delitem(sys.modules, "msgspec")
    monkeypatch.setenv("MP_ASYNC_JSON", "stdlib")
    assert FastDecoder(Profile).decode(body) is None
    monkeypatch.delenv("MP_ASYNC_JSON")
    assert FastDecoder(Profile).decode(body) == Profile(mpid=5)


def test_a_key_written_with_escapes_is_read_as_the_parser_reads_it() -> None:
    body = b'{"mpid": 5, "account_user\\u0061ttributes": {"tier": "gold"}}'
    reply = Response(200, None, body, "GET", "/p")  # type: ignore[arg-type]
    assert _decode_profile(reply).account_user_attributes == {"tier": "gold"}


def test_a_reply_that_is_not_utf8_is_refused_not_raised_raw() -> None:
    body = b'{"mpid": 1, "user_attributes": {"city": "caf\xe9"}}'
    assert FastDecoder(Profile).decode(body) is None
    with pytest.raises(UnexpectedResponse):
        _decode_profile(Response(200, None, body, "GET", "/p"))  # type: ignore[arg-type]


def test_an_integer_rounded_into_a_float_is_not_taken_as_an_id() -> None:
    # orjson reads an integer beyond 64 bits as a float; an id field refuses it rather than
    # keep a rounded number. msgspec (and the standard library) read it exactly.
    with pytest.raises(UnexpectedResponse):
        structure({"mpid": float(2**64 + 1)}, Profile)
    assert structure({"mpid": 1.0}, Profile).mpid == 1
    exact = FastDecoder(Profile).decode(b'{"mpid": 18446744073709551617}')
    assert exact is not None and exact.mpid == 2**64 + 1

"""Replies no client should trust: not JSON, cut short, the wrong shape, empty, huge, too deep.

Each must surface as a typed ``APIError`` with a short message and a short excerpt of the body,
never as a ``KeyError``, ``TypeError`` or ``RecursionError`` from deep inside the client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import client_for

from mp_async import APIError, MParticle, RetryPolicy
from mp_async.emulator import Emulator
from mp_async.errors import EXCERPT_CHARS, BadRequest, ServerError, UnexpectedResponse

pytestmark = pytest.mark.faults

Call = Callable[[MParticle, Emulator], Awaitable[Any]]

CALLS: dict[str, tuple[Call, str]] = {
    "profiles.get": (lambda mp, emu: mp.profiles.get(emu.seeded_mpids[0]), "/userprofile/"),
    "profiles.resolve": (
        lambda mp, emu: mp.profiles.resolve("customer_id", "cust-1-0"),
        "/userprofile/",
    ),
    "identity.identify": (
        lambda mp, emu: mp.identity.identify(email="a@example.com"),
        "/identity/",
    ),
    "identity.search": (lambda mp, emu: mp.identity.search(email="a@example.com"), "/identity/"),
    "groups.list": (lambda mp, emu: mp.groups.list(), "/platform/"),
    "groups.get": (lambda mp, emu: mp.groups.get("household"), "/platform/"),
    "platform.list_apps": (lambda mp, emu: mp.platform.list_apps(), "/v1/"),
    "platform.get_audience": (lambda mp, emu: mp.platform.get_audience(7), "/v1/"),
}

HUGE = b'{"padding": "' + b"x" * (8 * 1024 * 1024) + b'"}'

BODIES: dict[str, bytes] = {
    "html": b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    "truncated-json": b'{"mpid": "1", "user_attributes": {"$firstname": "Ad',
    "a-list-of-numbers": b"[1, 2, 3]",
    "fields-of-the-wrong-type": b'{"mpid": {"a": 1}, "id": [], "data": "x", "dataType": 5}',
    "empty": b"",
    "huge": HUGE,
    "huge-not-json": b"\xff" * (4 * 1024 * 1024),
    "nested-too-deep": b"[" * 100_000 + b"]" * 100_000,
}


def assert_short_and_typed(error: BaseException, body: bytes) -> None:
    assert isinstance(error, APIError), repr(error)
    assert len(str(error)) <= 600
    assert len(error.body_excerpt) <= EXCERPT_CHARS + 1
    if body.strip():
        assert error.body_excerpt, "the error keeps an excerpt of what the server sent"


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
@pytest.mark.parametrize("call_name", CALLS)
async def test_an_unreadable_success_reply_is_an_unexpected_response_with_a_short_excerpt(
    shared_emulator: Emulator, call_name: str, body: bytes
) -> None:
    emulator = shared_emulator
    call, path_prefix = CALLS[call_name]
    emulator.faults.fail_next(
        200, body=body, headers={"Content-Type": "application/json"}, path_prefix=path_prefix
    )
    async with client_for(emulator, retry=RetryPolicy.never()) as mp:
        with pytest.raises(APIError) as info:
            await call(mp, emulator)
    assert isinstance(info.value, UnexpectedResponse)
    assert_short_and_typed(info.value, body)
    assert not emulator.faults.script, "the scripted reply was used"


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
@pytest.mark.parametrize(("status", "error_type"), [(400, BadRequest), (500, ServerError)])
@pytest.mark.parametrize("call_name", ["profiles.get", "identity.search", "platform.list_apps"])
async def test_an_error_reply_with_an_unreadable_body_keeps_its_status_and_a_short_excerpt(
    shared_emulator: Emulator,
    call_name: str,
    status: int,
    error_type: type[APIError],
    body: bytes,
) -> None:
    emulator = shared_emulator
    call, path_prefix = CALLS[call_name]
    emulator.faults.fail_next(status, body=body, path_prefix=path_prefix)
    async with client_for(emulator, retry=RetryPolicy.never()) as mp:
        with pytest.raises(error_type) as info:
            await call(mp, emulator)
    assert info.value.status == status
    assert_short_and_typed(info.value, body)

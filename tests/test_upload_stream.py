"""``upload_many`` fed an iterator streams it: read as workers free up, checked as read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import client_for

from mp_async import InvalidRequest
from mp_async.api.events import UploadStopped
from mp_async.emulator import Emulator


def profile_update(i: int) -> dict[str, Any]:
    return {"environment": "production", "mpid": i + 1, "user_attributes": {"n": i}}


async def test_a_generator_is_read_only_as_requests_go_out(emulator: Emulator) -> None:
    emulator.faults.latency = 0.02
    read = 0
    read_when_sending: list[int] = []

    def batches() -> Iterator[dict[str, Any]]:
        nonlocal read
        for i in range(3000):
            read += 1
            yield profile_update(i)

    async with client_for(emulator) as mp:
        send_chunk = mp.events.send_chunk

        async def recording(chunk: Any, *, historical: bool) -> Any:
            read_when_sending.append(read)
            return await send_chunk(chunk, historical=historical)

        mp.events.send_chunk = recording  # type: ignore[method-assign]
        result = await mp.events.upload_many(batches(), concurrency=2)

    assert (result.sent, result.requests, result.failed) == (3000, 30, ())
    assert len(emulator.state.event_batches) == 3000
    # Chunk n goes out having read at most a few chunks past it, never the whole stream.
    for n, seen in enumerate(read_when_sending):
        assert seen <= (n + 1 + 2 + 1) * 100 + 1


async def test_a_bad_batch_in_a_stream_stops_it_and_says_what_came_of_the_rest(
    emulator: Emulator,
) -> None:
    def batches() -> Iterator[dict[str, Any]]:
        for i in range(250):
            yield profile_update(i)
        yield {"environment": "staging-ish", "mpid": 1}
        raise AssertionError("read past the bad batch")

    async with client_for(emulator) as mp:
        with pytest.raises(UploadStopped, match=r"batches\[250\].*environment") as caught:
            await mp.events.upload_many(batches())

    assert isinstance(caught.value, InvalidRequest) and isinstance(caught.value, ValueError)
    assert (caught.value.result.sent, caught.value.result.failed) == (250, ())
    assert len(emulator.state.event_batches) == 250


async def test_a_bad_batch_in_a_list_still_sends_nothing(emulator: Emulator) -> None:
    batches = [profile_update(i) for i in range(250)] + [{"environment": "nope", "mpid": 1}]
    async with client_for(emulator) as mp:
        with pytest.raises(InvalidRequest, match=r"batches\[250\]") as caught:
            await mp.events.upload_many(batches)
    assert not isinstance(caught.value, UploadStopped)
    assert emulator.state.event_batches == []


async def test_failed_chunks_of_a_stream_come_back_in_the_order_given(emulator: Emulator) -> None:
    emulator.faults.fail_next(400, count=1, path_prefix="/events/v2/bulkevents")
    async with client_for(emulator) as mp:
        result = await mp.events.upload_many(iter([profile_update(i) for i in range(300)]))
    assert result.sent == 200
    assert [f.batch["mpid"] for f in result.failed] == list(range(1, 101))  # type: ignore[index]

"""JSON encoding is the same with and without the optional orjson."""

from __future__ import annotations

import builtins
import importlib
import json
import sys

import pytest

import mp_async
import mp_async._json as fast_json


@pytest.fixture
def stdlib_json(monkeypatch):
    real_import = builtins.__import__

    def no_orjson(name, *args, **kwargs):
        if name == "orjson":
            raise ImportError("orjson hidden for this test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_orjson)
    monkeypatch.setattr(mp_async, "_json", fast_json)  # restored on undo, like sys.modules
    monkeypatch.delitem(sys.modules, "mp_async._json")
    module = importlib.import_module("mp_async._json")
    yield module
    monkeypatch.undo()


def test_without_orjson_the_stdlib_gives_the_same_bytes(stdlib_json) -> None:
    document = {"a": [1, 2.5, None, True], "é": "ü", "nested": {"x": "y"}}
    assert stdlib_json.loads is json.loads
    assert stdlib_json.dumps(document) == fast_json.dumps(document)
    assert stdlib_json.loads(stdlib_json.dumps(document)) == document


# --- both backends refuse the same things the same way (hardening) -------------------------

BACKENDS = pytest.mark.parametrize("backend", ["orjson", "stdlib"])


@pytest.fixture
def use_backend(monkeypatch):
    """Make every encoder of the package use one backend for the test."""

    def choose(backend: str) -> None:
        if backend == "stdlib":
            monkeypatch.setattr(fast_json, "dumps", fast_json.stdlib_dumps)

    return choose


def _deep(depth: int) -> dict:
    root = node = {}
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


@BACKENDS
@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
async def test_a_non_finite_number_is_refused_naming_the_field(
    use_backend, backend, number, mp, emulator
) -> None:
    from mp_async import InvalidRequest
    from mp_async.api.events import Batch

    use_backend(backend)
    batch = Batch("production", mpid=1, user_attributes={"ltv": number})
    raw = {"environment": "production", "user_attributes": {"scores": [1.0, number]}}
    with pytest.raises(InvalidRequest, match=r"user_attributes\.ltv"):
        await mp.events.upload(batch)
    with pytest.raises(InvalidRequest, match=r"user_attributes\.scores\[1\]"):
        await mp.events.upload_many([raw])
    async with mp.events.uploader() as up:
        with pytest.raises(InvalidRequest, match="non-finite"):
            await up.add(raw)
    with pytest.raises(InvalidRequest, match="non-finite"):
        await mp.platform.create("apps", {"name": "x", "score": number})
    assert not emulator.state.event_batches
    assert not [route for (_, route) in emulator.state.requests if route.startswith("events")]


@BACKENDS
async def test_a_value_nested_too_deep_is_an_invalid_request(use_backend, backend, mp) -> None:
    from mp_async import InvalidRequest

    use_backend(backend)
    raw = {"environment": "production", "user_attributes": {"deep": _deep(5000)}}
    with pytest.raises(InvalidRequest, match="too deep"):
        await mp.events.upload(raw)
    with pytest.raises(InvalidRequest, match="too deep"):
        await mp.events.upload_many([raw])
    async with mp.events.uploader() as up:
        with pytest.raises(InvalidRequest, match="too deep"):
            await up.add(raw)


@pytest.mark.parametrize("batches", [None, 5, "batch", {"environment": "production"}])
async def test_upload_many_of_something_that_is_not_batches_is_an_invalid_request(
    mp, batches
) -> None:
    from mp_async import InvalidRequest

    with pytest.raises(InvalidRequest, match="batches must be an iterable"):
        await mp.events.upload_many(batches)

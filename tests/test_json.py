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

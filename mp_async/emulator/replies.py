"""Small pieces every emulated API uses: JSON replies, error bodies, credential checks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .faults import Faults
from .state import EmulatorState

__all__ = [
    "FAULTS",
    "STATE",
    "bearer_error",
    "error_reply",
    "json_reply",
    "read_json",
]

STATE = web.AppKey("state", EmulatorState)
FAULTS = web.AppKey("faults", Faults)


def json_reply(
    document: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON reply."""
    return web.Response(
        body=json.dumps(document, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_reply(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An error in mParticle's shape: ``{"errors": [{"code", "message"}]}``."""
    return json_reply({"errors": [{"code": code, "message": message}]}, status, headers)


def bearer_error(request: web.Request) -> web.Response | None:
    """A 401 reply unless the request carries a valid, unexpired bearer token."""
    state = request.app[STATE]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return error_reply(401, "UNAUTHORIZED", "a bearer token is required")
    if not state.token_valid(token):
        return error_reply(401, "UNAUTHORIZED", "the token is invalid or has expired")
    return None


async def read_json(request: web.Request) -> tuple[Any, web.Response | None]:
    """The request body as JSON, or a 400 reply saying why it is not."""
    try:
        return json.loads(await request.read()), None
    except ValueError:
        return None, error_reply(400, "BAD_REQUEST", "the body is not valid JSON")

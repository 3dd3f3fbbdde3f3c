"""Small pieces every emulated API uses: JSON replies, error bodies, credential checks.

A handler or helper that must stop with an error raises ``Rejected`` (``reject`` builds one
in mParticle's error shape); the application's middleware sends its response.
"""

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
    "Rejected",
    "error_reply",
    "json_reply",
    "read_json_or_reject",
    "reject",
    "require_bearer",
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


class Rejected(Exception):
    """Stops handling a request with ``response``, which the application's middleware sends."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def reject(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Rejected:
    """A ``Rejected`` carrying ``error_reply(status, code, message, headers)``, to raise."""
    return Rejected(error_reply(status, code, message, headers))


def require_bearer(request: web.Request) -> None:
    """Return if the request carries a valid, unexpired bearer token; raise the 401 if not."""
    state = request.app[STATE]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise reject(401, "UNAUTHORIZED", "a bearer token is required")
    if not state.token_valid(token):
        raise reject(401, "UNAUTHORIZED", "the token is invalid or has expired")


async def read_json_or_reject(request: web.Request) -> Any:
    """The request body as JSON; raise the 400 saying why if it is not."""
    try:
        return json.loads(await request.read())
    except ValueError:
        raise reject(400, "BAD_REQUEST", "the body is not valid JSON") from None

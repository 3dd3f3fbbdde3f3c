"""The emulated Profile API: get by MPID, resolve by identity (POST, and the documented GET)."""

from __future__ import annotations

from aiohttp import web

from ..protocol import ENVIRONMENTS, PROFILE_FIELDS, PROFILE_PATH
from .replies import STATE, error_reply, json_reply, read_json_or_reject, reject, require_bearer

__all__ = ["add_routes"]


def _fields(request: web.Request) -> list[str]:
    raw = request.query.get("fields")
    if raw is None:
        return list(PROFILE_FIELDS)
    fields = [f for f in raw.split(",") if f]
    unknown = [f for f in fields if f not in PROFILE_FIELDS]
    if unknown or not fields:
        raise reject(400, "BAD_REQUEST", f"unknown fields: {', '.join(unknown)}")
    return fields


def _check_scope(request: web.Request) -> None:
    """Return if the request has a valid bearer token for the state's workspace; else raise."""
    require_bearer(request)
    state = request.app[STATE]
    try:
        scope = (
            int(request.match_info["org"]),
            int(request.match_info["account"]),
            int(request.match_info["workspace"]),
        )
    except ValueError:
        raise reject(404, "NOT_FOUND", "no such workspace") from None
    if scope != (state.org_id, state.account_id, state.workspace_id):
        raise reject(403, "FORBIDDEN", "these credentials have no access to that workspace")


async def get_profile(request: web.Request) -> web.Response:
    """``GET /userprofile/v1/{org}/{account}/{workspace}/{mpid}``."""
    _check_scope(request)
    fields = _fields(request)
    try:
        mpid = int(request.match_info["mpid"])
    except ValueError:
        return error_reply(400, "BAD_REQUEST", "the MPID is not an integer")
    view = request.app[STATE].profile_view(mpid, fields)
    if view is None:
        return error_reply(404, "NOT_FOUND", f"no profile for MPID {mpid}")
    return json_reply(view)


async def resolve_profile(request: web.Request) -> web.Response:
    """``POST`` (or ``GET`` with a body) ``/userprofile/v1/resolve/{org}/{account}/{workspace}``."""
    _check_scope(request)
    fields = _fields(request)
    document = await read_json_or_reject(request)
    identity = document.get("identity") if isinstance(document, dict) else None
    if (
        not isinstance(identity, dict)
        or not isinstance(identity.get("type"), str)
        or not isinstance(identity.get("value"), str)
    ):
        return error_reply(400, "BAD_REQUEST", 'identity must be {"type", "value"}')
    if document.get("environment_type", "production") not in ENVIRONMENTS:
        return error_reply(400, "BAD_REQUEST", "environment_type is not valid")
    state = request.app[STATE]
    mpid = state.profile_index.get((identity["type"], identity["value"]))
    view = state.profile_view(mpid, fields) if mpid is not None else None
    if view is None:
        return error_reply(404, "NOT_FOUND", "no profile matches that identity")
    return json_reply(view)


def add_routes(app: web.Application) -> None:
    """Register the Profile API's routes."""
    scope = "{org}/{account}/{workspace}"
    app.router.add_route(
        "POST", f"{PROFILE_PATH}/resolve/{scope}", resolve_profile, name="profile.resolve"
    )
    app.router.add_route(
        "GET", f"{PROFILE_PATH}/resolve/{scope}", resolve_profile, name="profile.resolve_get"
    )
    app.router.add_route("GET", f"{PROFILE_PATH}/{scope}/{{mpid}}", get_profile, name="profile.get")

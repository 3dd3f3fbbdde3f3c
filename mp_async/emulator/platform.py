"""The emulated Platform API: apps, workspaces and audiences of one account, under ``/v1``.

As documented: a bearer token and the ``accountId`` query parameter on every call (without
it, 401); replies wrapped in ``{"data": [...], "dataType": "...", "errors": [...]}``, except
the audience lists, which the docs show as bare arrays; 201 for a create, 202 for an update,
204 for a delete; 422 for a request that breaks a rule ("VALIDATION_ERROR").
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from ..protocol import PLATFORM_PATH, PLATFORM_V2_PATH
from .replies import STATE, Rejected, json_reply, read_json_or_reject, require_bearer
from .state import EmulatorState

__all__ = ["add_routes", "seed_platform"]

_PREFIX = PLATFORM_PATH

#: The ``os`` values an app platform may have, as documented.
_PLATFORM_OS = ("iOS", "tvOS", "Android", "MobileWeb", "Roku", "Alexa", "SmartTV", "FireTV", "Xbox")


def _now() -> str:
    # The Platform API writes timestamps without a zone, meaning UTC.
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds")


def envelope(
    data: list[Any],
    data_type: str,
    status: int = 200,
    errors: list[dict[str, str]] | None = None,
) -> web.Response:
    """A reply in the Platform API's common wrapper."""
    return json_reply({"data": data, "dataType": data_type, "errors": errors}, status)


def envelope_error(status: int, data_type: str, code: str, message: str) -> web.Response:
    """An error reply in the wrapper, with no data."""
    return envelope([], data_type, status, [{"code": code, "message": message}])


def seed_platform(state: EmulatorState) -> None:
    """The account's own workspace, one app and one audience, unless already there."""
    resources = state.platform
    workspaces = resources.setdefault("workspace", {})
    workspaces.setdefault(
        state.workspace_id,
        {
            "id": state.workspace_id,
            "name": "Emulator workspace",
            "data_type": "workspace",
            "created_on": "2024-01-02T03:04:05.678",
        },
    )
    resources.setdefault("apps", {})
    if not resources["apps"]:
        _store_app(state, "Emulator app", ["iOS", "Android"])
    audiences = resources.setdefault("audiences", {})
    audiences.setdefault(
        7622,
        {
            "id": 7622,
            "name": "Abandoned Cart",
            "external_name": "Abandoned Cart",
            "size": 342,
            "status": "active",
            "is_calculated": False,
            "added_last_24_hours": 10,
            "dropped_last_24_hours": 7,
            "created_by": "emulator@example.com",
            "last_modified_by": "emulator@example.com",
            "last_modified_on": "2024-01-12T17:27:34.387",
            "workspaces": [workspaces[state.workspace_id]],
            "connected_outputs": [
                {
                    "provider_name": "Mixpanel",
                    "configurations": [{"name": "Prod"}],
                    "data_type": "audience_output",
                }
            ],
            "data_type": "audience",
        },
    )


def _store_app(state: EmulatorState, name: str, platforms: list[str]) -> dict[str, Any]:
    apps = state.platform.setdefault("apps", {})
    app_id = max(apps, default=0) + 1
    now = _now()
    app = {
        "id": app_id,
        "name": name,
        "data_type": "application",
        "created_on": now,
        "last_modified_on": now,
        "platforms": [
            {
                "application_id": app_id,
                "os": os,
                "access_keys": [
                    {
                        "key": f"key-{app_id}-{os.lower()}",
                        "secret": secrets.token_urlsafe(12),
                        "data_type": "token",
                    }
                ],
                "profile_merging": True,
                "push_attribution_timer": 30,
                "data_type": "platform",
                "created_on": now,
                "last_modified_on": now,
            }
            for os in platforms
        ],
    }
    apps[app_id] = app
    return app


def _without_secrets(app: dict[str, Any]) -> dict[str, Any]:
    # As documented, the secret is only ever sent in the reply that creates it.
    return {
        **app,
        "platforms": [
            {
                **platform,
                "access_keys": [{**key, "secret": None} for key in platform.get("access_keys", [])],
            }
            for platform in app.get("platforms", [])
        ],
    }


def _check_account(request: web.Request, data_type: str) -> None:
    """Return if the request has a valid bearer token and the state's ``accountId``; else raise."""
    require_bearer(request)
    account = request.query.get("accountId")
    if not account:
        raise Rejected(envelope_error(401, data_type, "UNAUTHORIZED", "accountId is required"))
    if account != str(request.app[STATE].account_id):
        raise Rejected(envelope_error(403, data_type, "FORBIDDEN", "no access to that account"))


def _resource(request: web.Request, kind: str, data_type: str) -> dict[str, Any]:
    """The ``kind`` item the path's id names; else raise the 404."""
    try:
        key = int(request.match_info["id"])
    except ValueError:
        key = -1
    item = request.app[STATE].platform.get(kind, {}).get(key)
    if item is None:
        raise Rejected(envelope_error(404, data_type, "NOT_FOUND", f"no such {data_type}"))
    return item


async def list_apps(request: web.Request) -> web.Response:
    """``GET /v1/apps``."""
    _check_account(request, "application")
    apps = request.app[STATE].platform.get("apps", {}).values()
    return envelope([_without_secrets(app) for app in apps], "application")


async def get_app(request: web.Request) -> web.Response:
    """``GET /v1/apps/{id}``."""
    _check_account(request, "application")
    app = _resource(request, "apps", "application")
    return envelope([_without_secrets(app)], "application")


async def create_app(request: web.Request) -> web.Response:
    """``POST /v1/apps``: ``{"name", "platforms": [{"os"}]}``; 201, with each key's secret."""
    _check_account(request, "application")
    document = await read_json_or_reject(request)
    name = document.get("name") if isinstance(document, dict) else None
    platforms = document.get("platforms") if isinstance(document, dict) else None
    state = request.app[STATE]
    if not isinstance(name, str) or not name.strip():
        return envelope_error(422, "application", "VALIDATION_ERROR", "App name not specified.")
    if any(app["name"] == name for app in state.platform.get("apps", {}).values()):
        return envelope_error(422, "application", "VALIDATION_ERROR", "App name already exists.")
    if not isinstance(platforms, list) or not platforms:
        return envelope_error(
            422, "application", "VALIDATION_ERROR", "App must have at least one platform selected."
        )
    # The docs write "iOS" in one example and "android" in another: match either case.
    known = {os.lower(): os for os in _PLATFORM_OS}
    systems = [
        known.get(str(p.get("os")).lower(), "") if isinstance(p, dict) else "" for p in platforms
    ]
    if not all(systems):
        return envelope_error(422, "application", "VALIDATION_ERROR", "Invalid os specified.")
    return envelope([_store_app(state, name, systems)], "application", status=201)


async def update_app(request: web.Request) -> web.Response:
    """``PUT /v1/apps/{id}``: ``{"name"}``; 202."""
    _check_account(request, "application")
    app = _resource(request, "apps", "application")
    document = await read_json_or_reject(request)
    name = document.get("name") if isinstance(document, dict) else None
    if not isinstance(name, str) or not name.strip():
        return envelope_error(422, "application", "VALIDATION_ERROR", "App name must be specified.")
    app.update(name=name, last_modified_on=_now())
    return envelope([_without_secrets(app)], "application", status=202)


async def delete_app(request: web.Request) -> web.Response:
    """``DELETE /v1/apps/{id}``: 204."""
    _check_account(request, "application")
    app = _resource(request, "apps", "application")
    del request.app[STATE].platform["apps"][app["id"]]
    return web.Response(status=204)


async def list_workspaces(request: web.Request) -> web.Response:
    """``GET /v1/workspace`` (the documented name is singular)."""
    _check_account(request, "workspace")
    workspaces = request.app[STATE].platform.get("workspace", {}).values()
    return envelope(list(workspaces), "workspace")


async def get_workspace(request: web.Request) -> web.Response:
    """``GET /v1/workspace/{id}``."""
    _check_account(request, "workspace")
    return envelope([_resource(request, "workspace", "workspace")], "workspace")


async def list_audiences(request: web.Request) -> web.Response:
    """``GET /v1/audiences``: a bare array, as the docs show it."""
    _check_account(request, "audience")
    return json_reply(list(request.app[STATE].platform.get("audiences", {}).values()))


async def list_workspace_audiences(request: web.Request) -> web.Response:
    """``GET /v1/workspace/{id}/audiences``: the audiences of one workspace, a bare array."""
    _check_account(request, "audience")
    workspace = _resource(request, "workspace", "workspace")
    audiences = [
        audience
        for audience in request.app[STATE].platform.get("audiences", {}).values()
        if any(w.get("id") == workspace["id"] for w in audience.get("workspaces", []))
    ]
    return json_reply(audiences)


async def get_audience(request: web.Request) -> web.Response:
    """``GET /v1/audiences/{id}``."""
    _check_account(request, "audience")
    return envelope([_resource(request, "audiences", "audience")], "audience")


async def delete_audience(request: web.Request) -> web.Response:
    """``DELETE /v1/audiences/{id}``: 204."""
    _check_account(request, "audience")
    audience = _resource(request, "audiences", "audience")
    del request.app[STATE].platform["audiences"][audience["id"]]
    return web.Response(status=204)


async def list_calculated_attributes(request: web.Request) -> web.Response:
    """``GET /platform/v2/workspaces/{id}/calculatedattributes``: a bearer token, no accountId.

    The documented reply is a bare array; the emulator serves none of the attributes' logic.
    """
    require_bearer(request)
    state = request.app[STATE]
    if request.match_info["id"] != str(state.workspace_id):
        raise Rejected(
            json_reply({"errors": [{"code": "NOT_FOUND", "message": "no workspace"}]}, 404)
        )
    return json_reply(list(state.calculated_attributes))


def add_routes(app: web.Application) -> None:
    """Register the Platform API's routes, over a seeded account."""
    seed_platform(app[STATE])
    add = app.router.add_route
    add("GET", f"{_PREFIX}/apps", list_apps, name="platform.apps")
    add("POST", f"{_PREFIX}/apps", create_app, name="platform.create_app")
    add("GET", f"{_PREFIX}/apps/{{id}}", get_app, name="platform.app")
    add("PUT", f"{_PREFIX}/apps/{{id}}", update_app, name="platform.update_app")
    add("DELETE", f"{_PREFIX}/apps/{{id}}", delete_app, name="platform.delete_app")
    add("GET", f"{_PREFIX}/workspace", list_workspaces, name="platform.workspaces")
    add("GET", f"{_PREFIX}/workspace/{{id}}", get_workspace, name="platform.workspace")
    add(
        "GET",
        f"{_PREFIX}/workspace/{{id}}/audiences",
        list_workspace_audiences,
        name="platform.workspace_audiences",
    )
    add("GET", f"{_PREFIX}/audiences", list_audiences, name="platform.audiences")
    add("GET", f"{_PREFIX}/audiences/{{id}}", get_audience, name="platform.audience")
    add("DELETE", f"{_PREFIX}/audiences/{{id}}", delete_audience, name="platform.delete_audience")
    add(
        "GET",
        f"{PLATFORM_V2_PATH}/workspaces/{{id}}/calculatedattributes",
        list_calculated_attributes,
        name="platform.calculated_attributes",
    )

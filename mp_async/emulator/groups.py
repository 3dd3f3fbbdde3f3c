"""The emulated Group Identity API: one workspace's group definitions, with the documented limits.

Limits broken answer 400; a second definition in the workspace answers 422 (the docs allow
one per workspace); an unknown group id answers 404.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from ..protocol import (
    GROUP_ATTRIBUTE_ID_LENGTH,
    GROUP_ATTRIBUTE_TYPES,
    GROUP_DESCRIPTION_LENGTH,
    GROUP_ID_LENGTH,
    GROUP_MAX_ATTRIBUTES,
    GROUPS_PATH,
)
from .replies import (
    STATE,
    Rejected,
    error_reply,
    json_reply,
    read_json_or_reject,
    reject,
    require_bearer,
)

__all__ = ["add_routes"]

_PREFIX = GROUPS_PATH.rstrip("/")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _bad_request(message: str) -> Rejected:
    return reject(400, "BAD_REQUEST", message)


def _check_length(name: str, value: object, limits: tuple[int, int]) -> None:
    low, high = limits
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise _bad_request(f"{name} must be a string of {low}-{high} characters")


def _check_attributes(attributes: object) -> None:
    if not isinstance(attributes, list):
        raise _bad_request("attributes must be a list")
    if len(attributes) > GROUP_MAX_ATTRIBUTES:
        raise _bad_request(f"a group may have at most {GROUP_MAX_ATTRIBUTES} attributes")
    for index, attribute in enumerate(attributes):
        if not isinstance(attribute, dict):
            raise _bad_request(f"attributes[{index}] must be an object")
        _check_length(f"attributes[{index}].id", attribute.get("id"), GROUP_ATTRIBUTE_ID_LENGTH)
        if attribute.get("type") not in GROUP_ATTRIBUTE_TYPES:
            raise _bad_request(
                f"attributes[{index}].type must be one of {', '.join(GROUP_ATTRIBUTE_TYPES)}"
            )


async def _read_definition(request: web.Request, *, id_required: bool) -> dict[str, Any]:
    """The body, a valid group definition; else raise the 400 saying why.

    A replace (PUT) names the group in its path; the documented PUT example has no ``id`` in
    its body, so there it may be left out (and must match the path when given).
    """
    document = await read_json_or_reject(request)
    if not isinstance(document, dict):
        raise _bad_request("the body must be a group definition object")
    source = document.get("source_user_attribute")
    if not isinstance(source, str) or not source:
        raise _bad_request("source_user_attribute is required")
    if id_required or "id" in document:
        _check_length("id", document.get("id"), GROUP_ID_LENGTH)
    _check_length("description", document.get("description", ""), GROUP_DESCRIPTION_LENGTH)
    _check_attributes(document.get("attributes", []))
    return document


def _attributes(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": item["id"], "type": item["type"]} for item in items]


def _check_workspace(request: web.Request) -> None:
    """Return if the request has a valid bearer token for the state's workspace; else raise."""
    require_bearer(request)
    try:
        workspace_id = int(request.match_info["workspace_id"])
    except ValueError:
        raise reject(404, "NOT_FOUND", "no such workspace") from None
    if workspace_id != request.app[STATE].workspace_id:
        raise reject(403, "FORBIDDEN", "these credentials have no access to that workspace")


def _stored(request: web.Request) -> dict[str, Any]:
    """The definition the path names; else raise the 404."""
    group = request.app[STATE].groups.get(request.match_info["group_id"])
    if group is None:
        raise reject(404, "NOT_FOUND", "no group definition with that id")
    return group


async def list_groups(request: web.Request) -> web.Response:
    """``GET …/groups/``: every definition, as a JSON array."""
    _check_workspace(request)
    return json_reply(list(request.app[STATE].groups.values()))


async def get_group(request: web.Request) -> web.Response:
    """``GET …/groups/{group_id}``."""
    _check_workspace(request)
    return json_reply(_stored(request))


async def create_group(request: web.Request) -> web.Response:
    """``POST …/groups/``: 201 with the stored definition; 422 if the workspace has one."""
    _check_workspace(request)
    document = await _read_definition(request, id_required=True)
    state = request.app[STATE]
    if state.groups:
        return error_reply(
            422, "UNPROCESSABLE_ENTITY", "a workspace may have only one group definition"
        )
    now = _now()
    group = {
        "id": document["id"],
        "description": document.get("description", ""),
        "source_user_attribute": document["source_user_attribute"],
        "attributes": _attributes(document.get("attributes", [])),
        "created_on": now,
        "created_by": state.client_id,
        "last_modified_on": now,
        "last_modified_by": state.client_id,
    }
    state.groups[group["id"]] = group
    return json_reply(group, status=201)


async def replace_group(request: web.Request) -> web.Response:
    """``PUT …/groups/{group_id}``: the whole definition, under the same id."""
    _check_workspace(request)
    group = _stored(request)
    document = await _read_definition(request, id_required=False)
    if document.get("id", group["id"]) != group["id"]:
        return error_reply(400, "BAD_REQUEST", "the body's id must match the group id in the path")
    group.update(
        description=document.get("description", ""),
        source_user_attribute=document["source_user_attribute"],
        attributes=_attributes(document.get("attributes", [])),
        last_modified_on=_now(),
        last_modified_by=request.app[STATE].client_id,
    )
    return json_reply(group)


async def set_group_attributes(request: web.Request) -> web.Response:
    """``PATCH …/groups/{group_id}``: ``{"attributes": [...]}`` replaces the attributes."""
    _check_workspace(request)
    group = _stored(request)
    document = await read_json_or_reject(request)
    if not isinstance(document, dict) or "attributes" not in document:
        return error_reply(400, "BAD_REQUEST", 'the body must be {"attributes": [...]}')
    _check_attributes(document["attributes"])
    group.update(
        attributes=_attributes(document["attributes"]),
        last_modified_on=_now(),
        last_modified_by=request.app[STATE].client_id,
    )
    return json_reply(group)


async def delete_group(request: web.Request) -> web.Response:
    """``DELETE …/groups/{group_id}``: 204."""
    _check_workspace(request)
    _stored(request)
    del request.app[STATE].groups[request.match_info["group_id"]]
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    """Register the Group Identity API's routes (with or without a trailing slash)."""
    collection, item = f"{_PREFIX}{{slash:/?}}", f"{_PREFIX}/{{group_id}}{{slash:/?}}"
    router = app.router
    router.add_route("GET", collection, list_groups, name="groups.list")
    router.add_route("POST", collection, create_group, name="groups.create")
    router.add_route("GET", item, get_group, name="groups.get")
    router.add_route("PUT", item, replace_group, name="groups.replace")
    router.add_route("PATCH", item, set_group_attributes, name="groups.set_attributes")
    router.add_route("DELETE", item, delete_group, name="groups.delete")

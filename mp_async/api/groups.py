"""The Group Identity API: group definitions of a workspace, and the attributes their members share.

``{hosts.api}/platform/workspaces/{workspace_id}/groups/``: list, get, create (POST), replace
(PUT), set attributes (PATCH), delete. The documented limits are checked here, before anything
is sent; the rules only the server can know (one definition per workspace, ten users per
group) are left to it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import attrs

from ..auth.base import AuthStrategy
from ..converter import converter, structure
from ..errors import InvalidRequest
from ..hosts import Hosts
from ..protocol import (
    GROUP_ATTRIBUTE_ID_LENGTH,
    GROUP_ATTRIBUTE_TYPES,
    GROUP_DESCRIPTION_LENGTH,
    GROUP_ID_LENGTH,
    GROUP_MAX_ATTRIBUTES,
    GROUPS_PATH,
)
from ..request import Request
from ..session import Session
from ._base import APIBase

__all__ = [
    "Group",
    "GroupAttribute",
    "GroupDefinition",
    "GroupsAPI",
    "validate_attributes",
    "validate_definition",
    "validate_group_id",
]


@attrs.frozen
class GroupAttribute:
    """A user attribute shared by a group's members, and how their values are combined."""

    id: str
    type: str


def _as_tuple(attributes: Iterable[GroupAttribute]) -> tuple[GroupAttribute, ...]:
    if isinstance(attributes, (str, bytes, GroupAttribute)) or not isinstance(attributes, Iterable):
        raise InvalidRequest(
            f"attributes must be a list of GroupAttribute, got {attributes!r}"[:200]
        )
    return tuple(attributes)


@attrs.frozen
class GroupDefinition:
    """How users are grouped (by ``source_user_attribute``) and which attributes they share."""

    id: str
    source_user_attribute: str
    attributes: tuple[GroupAttribute, ...] = attrs.field(default=(), converter=_as_tuple)
    description: str = ""


@attrs.frozen
class Group(GroupDefinition):
    """A group definition as the server stores it, with who created and changed it, and when."""

    created_on: datetime | None = None
    created_by: str | None = None
    last_modified_on: datetime | None = None
    last_modified_by: str | None = None

    def definition(self) -> GroupDefinition:
        """The definition alone, to send back with changes (``replace``)."""
        return GroupDefinition(
            self.id, self.source_user_attribute, self.attributes, self.description
        )


def _check_length(name: str, value: object, limits: tuple[int, int]) -> str:
    low, high = limits
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string of {low}-{high} characters, got {value!r}")
    if not low <= len(value) <= high:
        raise InvalidRequest(
            f"{name} must be {low}-{high} characters long, got {len(value)}: {value[:40]!r}"
        )
    return value


def validate_group_id(group_id: object) -> str:
    """A group id within the documented 3-32 characters."""
    return _check_length("group_id", group_id, GROUP_ID_LENGTH)


def validate_attributes(attributes: object) -> tuple[GroupAttribute, ...]:
    """Attributes within the documented limits: at most 10, ids of 1-223 characters, known types."""
    if isinstance(attributes, (str, bytes, GroupAttribute)) or not isinstance(attributes, Iterable):
        raise InvalidRequest(f"attributes must be a list of GroupAttribute, got {attributes!r}")
    checked = tuple(attributes)
    if len(checked) > GROUP_MAX_ATTRIBUTES:
        raise InvalidRequest(
            f"a group may have at most {GROUP_MAX_ATTRIBUTES} attributes, got {len(checked)}"
        )
    for index, attribute in enumerate(checked):
        if not isinstance(attribute, GroupAttribute):
            raise InvalidRequest(f"attributes[{index}] must be a GroupAttribute, got {attribute!r}")
        _check_length(f"attributes[{index}].id", attribute.id, GROUP_ATTRIBUTE_ID_LENGTH)
        if attribute.type not in GROUP_ATTRIBUTE_TYPES:
            raise InvalidRequest(
                f"attributes[{index}].type must be one of {', '.join(GROUP_ATTRIBUTE_TYPES)}, "
                f"got {attribute.type!r}"
            )
    return checked


def validate_definition(definition: object) -> GroupDefinition:
    """A definition within every documented limit, or ``InvalidRequest`` naming the one broken."""
    if not isinstance(definition, GroupDefinition):
        raise InvalidRequest(f"definition must be a GroupDefinition, got {definition!r}")
    _check_length("group id", definition.id, GROUP_ID_LENGTH)
    source = definition.source_user_attribute
    if not isinstance(source, str) or not source:
        raise InvalidRequest(f"source_user_attribute must name a user attribute, got {source!r}")
    _check_length("description", definition.description, GROUP_DESCRIPTION_LENGTH)
    validate_attributes(definition.attributes)
    return definition


def _definition_body(definition: GroupDefinition, *, with_id: bool = True) -> dict[str, Any]:
    """The JSON body of a create or replace: the definition's own fields, never the audit ones.

    A replace (PUT) names the group in its URL and, as the documented PUT example shows, not in
    its body.
    """
    body: dict[str, Any] = {"id": definition.id} if with_id else {}
    return body | {
        "description": definition.description,
        "source_user_attribute": definition.source_user_attribute,
        "attributes": _attributes_body(definition.attributes),
    }


def _attributes_body(attributes: Iterable[GroupAttribute]) -> list[dict[str, Any]]:
    """Attributes as the API takes them: ``[{"id", "type"}]``."""
    return [converter.unstructure(attribute) for attribute in attributes]


class GroupsAPI(APIBase):
    """The group definitions of one workspace: ``await mp.groups.list()``."""

    needs = "Group Identity API needs OAuth credentials: pass oauth=OAuthClientCredentials(...)"

    def __init__(
        self,
        session: Session,
        auth: AuthStrategy | None,
        workspace_id: int,
        hosts: Hosts | None = None,
    ) -> None:
        if isinstance(workspace_id, bool) or not isinstance(workspace_id, int) or workspace_id <= 0:
            raise InvalidRequest(f"workspace_id must be a positive integer, got {workspace_id!r}")
        super().__init__(session, auth, hosts)
        # The documented collection URL ends with a slash; items hang below it.
        self._collection_url = f"{self.hosts.api}{GROUPS_PATH.format(workspace_id=workspace_id)}"

    def _item_url(self, group_id: object) -> str:
        # Every character but the unreserved ones is escaped ("/" and "%" included), so an id
        # is always one segment under the collection and never a "." or ".." the URL parser
        # would resolve.
        return self._collection_url + quote(validate_group_id(group_id), safe="")

    async def list(self) -> builtins.list[Group]:
        """Every group definition of the workspace."""
        self._credentials()
        response = await self._send(Request("GET", self._collection_url, bucket="groups"))
        document = response.json()
        # No documentation page shows this reply: a bare array is read, and so is the
        # Platform API's envelope, which the same host uses elsewhere (see README, Conformance).
        if isinstance(document, dict) and isinstance(document.get("data"), list):
            document = document["data"]
        if not isinstance(document, list):
            raise response.unexpected("expected a list of groups")
        return [structure(item, Group, method="GET", path=response.path) for item in document]

    async def get(self, group_id: str) -> Group:
        """The group definition ``group_id``; ``NotFound`` if there is none."""
        self._credentials()
        response = await self._send(Request("GET", self._item_url(group_id), bucket="groups"))
        return structure(response.json(), Group, method="GET", path=response.path)

    async def create(self, definition: GroupDefinition) -> Group:
        """Create a group definition (the documented limits are checked first)."""
        self._credentials()
        validate_definition(definition)
        request = Request.json(
            "POST", self._collection_url, _definition_body(definition), bucket="groups"
        )
        response = await self._send(request)
        return structure(response.json(), Group, method="POST", path=response.path)

    async def replace(self, group_id: str, definition: GroupDefinition) -> Group:
        """Replace the definition of ``group_id`` as a whole (PUT)."""
        self._credentials()
        url = self._item_url(group_id)
        validate_definition(definition)
        if definition.id != group_id:
            raise InvalidRequest(
                f"replace: the definition's id {definition.id!r} is not the group_id "
                f"{group_id!r} it would replace"
            )
        request = Request.json(
            "PUT", url, _definition_body(definition, with_id=False), bucket="groups"
        )
        response = await self._send(request)
        return structure(response.json(), Group, method="PUT", path=response.path)

    async def set_attributes(self, group_id: str, attributes: Iterable[GroupAttribute]) -> Group:
        """Set the attributes of ``group_id``; the rest of its definition stays (PATCH)."""
        self._credentials()
        url = self._item_url(group_id)
        checked = validate_attributes(attributes)
        # Setting the attributes to a given list twice leaves them as once: safe to repeat.
        request = Request.json(
            "PATCH",
            url,
            {"attributes": _attributes_body(checked)},
            bucket="groups",
            idempotent=True,
        )
        response = await self._send(request)
        return structure(response.json(), Group, method="PATCH", path=response.path)

    async def delete(self, group_id: str) -> None:
        """Delete the group definition ``group_id`` (the server answers 204)."""
        self._credentials()
        await self._send(Request("DELETE", self._item_url(group_id), bucket="groups"))

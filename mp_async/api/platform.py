"""The Platform API: an account's apps, workspaces, audiences and other resources, under ``/v1``.

Every call carries the workspace's ``accountId`` as a query parameter (without it the server
answers 401). Replies come wrapped in ``{"data": [...], "dataType": "...", "errors": [...]}``;
the caller gets ``data``, and ``errors`` become the raised ``APIError``'s ``errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs

from ..auth.base import AuthStrategy
from ..converter import structure
from ..errors import (
    InvalidRequest,
    error_for_status,
)
from ..hosts import Hosts, Workspace
from ..protocol import PLATFORM_PATH, PLATFORM_V2_PATH
from ..request import Request, Response, url_under
from ..session import Session
from ._base import APIBase

__all__ = [
    "AccessKey",
    "App",
    "AppPlatform",
    "Audience",
    "AudienceOutput",
    "PlatformAPI",
    "PlatformWorkspace",
    "unwrap",
]

#: Path of the Platform API under ``Hosts.api``.

T = TypeVar("T")

ParamValue = str | int | float | bool


@attrs.frozen
class AccessKey:
    """An app platform's access key; the secret is sent once, in the reply that creates it."""

    key: str | None = None
    secret: str | None = attrs.field(default=None, repr=False)
    data_type: str | None = None


@attrs.frozen
class AppPlatform:
    """One platform (iOS, Android, ...) of an app, with its access keys and settings."""

    os: str | None = None
    application_id: int | None = None
    access_keys: tuple[AccessKey, ...] = ()
    crash_handling: str | None = None
    network_performance: str | None = None
    social_mode: str | None = None
    profile_merging: bool | None = None
    push_attribution_timer: int | None = None
    created_on: datetime | None = None
    last_modified_on: datetime | None = None
    data_type: str | None = None


@attrs.frozen
class App:
    """An app of the account, and its platforms."""

    id: int
    name: str | None = None
    platforms: tuple[AppPlatform, ...] = ()
    created_on: datetime | None = None
    last_modified_on: datetime | None = None
    data_type: str | None = None


@attrs.frozen
class PlatformWorkspace:
    """A workspace of the account, as the Platform API lists it."""

    id: int
    name: str | None = None
    created_on: datetime | None = None
    data_type: str | None = None


@attrs.frozen
class AudienceOutput:
    """An output an audience is connected to; ``configurations`` as the server sent them."""

    provider_name: str | None = None
    configurations: tuple[dict[str, Any], ...] = ()
    data_type: str | None = None


@attrs.frozen
class Audience:
    """An audience of the account: its size, status, workspaces and connected outputs."""

    id: int
    name: str | None = None
    external_name: str | None = None
    size: int | None = None
    status: str | None = None
    is_calculated: bool | None = None
    added_last_24_hours: int | None = None
    dropped_last_24_hours: int | None = None
    created_by: str | None = None
    created_on: datetime | None = None
    last_modified_by: str | None = None
    last_modified_on: datetime | None = None
    workspaces: tuple[PlatformWorkspace, ...] = ()
    connected_outputs: tuple[AudienceOutput, ...] = ()
    data_type: str | None = None


def _is_envelope(document: Any) -> bool:
    # Most resources use "dataType"; the feed resources write "data_type" instead.
    return (
        isinstance(document, dict)
        and "data" in document
        and any(key in document for key in ("dataType", "data_type", "errors"))
    )


def unwrap(response: Response) -> Any:
    """The ``data`` of a Platform reply; errors it reports raise, even on a 2xx.

    A reply that is not an envelope (some resources answer with a bare array) is returned
    whole, and an empty one (204, or a 202 without a body) as None.
    """
    if not response.body.strip():
        return None
    document = response.json()
    if not _is_envelope(document):
        return document
    # Only an envelope's own "errors" count: a stray "message" in a success is not an error.
    if document.get("errors"):
        raise error_for_status(
            response.status, method=response.method, path=response.path, body=response.body
        )
    return document["data"]


def _path(path: object) -> str:
    if not isinstance(path, str) or not path.strip("/"):
        raise InvalidRequest(f"path must name a Platform API resource such as 'apps', got {path!r}")
    if "://" in path or "?" in path or "#" in path:
        raise InvalidRequest(
            f"path must be a path under /v1 without a query (pass query parameters as keyword "
            f"arguments), got {path!r}"
        )
    return path.strip("/")


def _param(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise InvalidRequest(f"query parameter {name} must be a str, int, float or bool, got {value!r}")


class PlatformAPI(APIBase):
    """The Platform API of one account: ``await mp.platform.list_apps()``."""

    needs = "Platform API needs OAuth credentials: pass oauth=OAuthClientCredentials(...)"

    def __init__(
        self,
        session: Session,
        auth: AuthStrategy | None,
        workspace: Workspace,
        hosts: Hosts | None = None,
    ) -> None:
        super().__init__(session, auth, hosts)
        self._account_id = str(workspace.account_id)
        self._workspace_id = workspace.workspace_id
        api = self.hosts.api
        self._roots = {1: f"{api}{PLATFORM_PATH}", 2: f"{api}{PLATFORM_V2_PATH}"}

    def _params(self, params: Mapping[str, object], version: int) -> dict[str, str]:
        if "accountId" in params:
            raise InvalidRequest(
                "accountId comes from the client's workspace; "
                "use a PlatformAPI with another Workspace for another account"
            )
        query = {name: _param(name, value) for name, value in params.items()}
        if version == 1:  # /platform/v2 takes no accountId (Platform API overview)
            query["accountId"] = self._account_id
        return query

    async def _exchange(
        self,
        method: str,
        path: object,
        body: Any = None,
        params: Mapping[str, object] | None = None,
        version: int = 1,
    ) -> tuple[Any, Response]:
        auth = self._credentials()
        root = self._roots.get(version) if not isinstance(version, bool) else None
        if root is None:
            raise InvalidRequest(f"version must be 1 (/v1) or 2 (/platform/v2), got {version!r}")
        url = url_under(root, _path(path))
        query = self._params(params or {}, version)
        if method in ("POST", "PUT"):
            request = Request.json(method, url, body, params=query, bucket="platform")
        else:
            request = Request(method, url, params=query, bucket="platform")
        response = await self._send(request, auth)
        return unwrap(response), response

    # --- any resource -------------------------------------------------------------------

    async def get(self, path: str, *, version: int = 1, **params: ParamValue) -> Any:
        """``GET /v1/{path}`` (``version=2``: ``/platform/v2/{path}``, no ``accountId``): the
        reply's ``data`` (usually a list of resources), or the reply itself if not wrapped."""
        return (await self._exchange("GET", path, params=params, version=version))[0]

    async def create(self, path: str, body: Any, *, version: int = 1) -> Any:
        """``POST /v1/{path}`` (or ``/platform/v2``) with ``body`` as JSON: the reply's ``data``."""
        return (await self._exchange("POST", path, body, version=version))[0]

    async def update(self, path: str, body: Any, *, version: int = 1) -> Any:
        """``PUT /v1/{path}`` (or ``/platform/v2``) with ``body`` as JSON: the reply's ``data``,
        None if it has none."""
        return (await self._exchange("PUT", path, body, version=version))[0]

    async def delete(self, path: str, *, version: int = 1) -> None:
        """``DELETE /v1/{path}`` (or ``/platform/v2/{path}``)."""
        await self._exchange("DELETE", path, version=version)

    # --- typed helpers ------------------------------------------------------------------

    async def list_apps(self) -> list[App]:
        """Every app of the account, with its platforms."""
        return await self._get_many("apps", App)

    async def get_app(self, app_id: int | str) -> App:
        """The app ``app_id``; ``NotFound`` if the account has no such app."""
        return await self._get_one(f"apps/{_resource_id('app_id', app_id)}", App)

    async def list_workspaces(self) -> list[PlatformWorkspace]:
        """Every workspace of the account."""
        # The documented resource name is singular: GET /v1/workspace.
        return await self._get_many("workspace", PlatformWorkspace)

    async def get_workspace(self, workspace_id: int | str | None = None) -> PlatformWorkspace:
        """The workspace ``workspace_id`` (by default the client's own)."""
        chosen = self._workspace_id if workspace_id is None else workspace_id
        return await self._get_one(
            f"workspace/{_resource_id('workspace_id', chosen)}", PlatformWorkspace
        )

    async def list_audiences(self, *, workspace_id: int | str | None = None) -> list[Audience]:
        """The account's active audiences, or only those of ``workspace_id``."""
        if workspace_id is None:
            return await self._get_many("audiences", Audience)
        path = f"workspace/{_resource_id('workspace_id', workspace_id)}/audiences"
        return await self._get_many(path, Audience)

    async def get_audience(self, audience_id: int | str) -> Audience:
        """The audience ``audience_id``."""
        path = f"audiences/{_resource_id('audience_id', audience_id)}"
        return await self._get_one(path, Audience)

    async def _get_many(self, path: str, cls: type[T]) -> list[T]:
        data, response = await self._exchange("GET", path)
        if not isinstance(data, list):
            raise response.unexpected(f"expected a list of {cls.__name__}")
        return [structure(item, cls, method="GET", path=response.path) for item in data]

    async def _get_one(self, path: str, cls: type[T]) -> T:
        data, response = await self._exchange("GET", path)
        # A single resource comes as a one-element list in the envelope.
        if isinstance(data, list):
            if len(data) != 1:
                raise response.unexpected(f"expected one {cls.__name__}, got {len(data)}")
            data = data[0]
        return structure(data, cls, method="GET", path=response.path)


def _resource_id(name: str, value: object) -> str:
    # The ids of apps, workspaces and audiences are positive integers; a string of digits
    # is taken too. Anything else would name another resource, or a path, not an id.
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0:
        return value
    raise InvalidRequest(f"{name} must be a positive integer, got {value!r}"[:200])

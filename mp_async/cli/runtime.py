"""What every command shares: credentials from flags or ``MPARTICLE_*``, the client (or an
in-process emulator), output as tables or JSON, and errors as one line with an exit code."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from typing import Any, Literal, TypeVar

import attrs
import click
from rich.console import Console
from rich.table import Table

from ..auth import ApiKeyAuth, BasicAuth, HmacDigestAuth, OAuthClientCredentials
from ..auth.base import AuthStrategy
from ..client import MParticle
from ..converter import converter
from ..emulator import Emulator
from ..errors import InvalidRequest, MParticleError
from ..hosts import PODS, Hosts, Workspace

__all__ = [
    "Settings",
    "common_options",
    "emit",
    "open_client",
    "print_table",
    "run_async",
    "stderr",
    "to_json",
]

F = TypeVar("F", bound=Callable[..., Any])

stderr = Console(stderr=True, highlight=False)

#: Profiles the in-process emulator of ``--emulator`` is seeded with (seed 0).
EMULATOR_PROFILES = 1000


@attrs.define
class Settings:
    """Options every command takes; flags win over ``MPARTICLE_*`` environment variables."""

    emulator: bool = False
    json: bool = False
    client_id: str | None = None
    client_secret: str | None = attrs.field(default=None, repr=False)
    api_key: str | None = None
    api_secret: str | None = attrs.field(default=None, repr=False)
    org_id: int | None = None
    account_id: int | None = None
    workspace_id: int | None = None
    pod: str | None = None
    base_url: str | None = None
    auth: Literal["hmac", "basic", "key"] = "hmac"


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    settings = ctx.ensure_object(Settings)
    if value is not None and param.name:
        setattr(settings, param.name, value)
    return value


def _option(*names: str, **kwargs: Any) -> Callable[[F], F]:
    return click.option(*names, expose_value=False, callback=_store, **kwargs)


_COMMON = [
    _option(
        "--emulator",
        is_flag=True,
        default=None,
        help="Run against an in-process emulator (seeded with 1,000 profiles, seed 0).",
    ),
    _option("--json", is_flag=True, default=None, help="Print JSON instead of tables."),
    _option("--client-id", envvar="MPARTICLE_CLIENT_ID", help="OAuth client id."),
    _option("--client-secret", envvar="MPARTICLE_CLIENT_SECRET", help="OAuth client secret."),
    _option("--api-key", envvar="MPARTICLE_API_KEY", help="Identity and Events API key."),
    _option("--api-secret", envvar="MPARTICLE_API_SECRET", help="Identity and Events API secret."),
    _option("--org-id", type=int, envvar="MPARTICLE_ORG_ID"),
    _option("--account-id", type=int, envvar="MPARTICLE_ACCOUNT_ID"),
    _option("--workspace-id", type=int, envvar="MPARTICLE_WORKSPACE_ID"),
    _option("--pod", type=click.Choice(PODS, case_sensitive=False), envvar="MPARTICLE_POD"),
    _option(
        "--base-url",
        envvar="MPARTICLE_BASE_URL",
        help="Send every API to this server (an emulator).",
    ),
]


def common_options(command: F) -> F:
    """Add the credential, ``--emulator`` and ``--json`` options to a command."""
    for option in reversed(_COMMON):
        command = option(command)
    return command


def auth_option(command: F) -> F:
    """Add ``--auth hmac|basic|key`` (how Identity requests are authenticated)."""
    return _option(
        "--auth",
        type=click.Choice(["hmac", "basic", "key"]),
        default=None,
        help="Identity API auth: HMAC digest (default, recommended), Basic, or key only.",
    )(command)


def _identity_auth(settings: Settings, key: str, secret: str | None) -> AuthStrategy | None:
    if settings.auth == "key":
        return ApiKeyAuth(key)
    if secret is None:
        return None
    return BasicAuth(key, secret) if settings.auth == "basic" else HmacDigestAuth(key, secret)


def _client(settings: Settings) -> MParticle:
    s = settings
    ids = (s.org_id, s.account_id, s.workspace_id)
    workspace = Workspace(*ids) if all(i is not None for i in ids) else None  # type: ignore[arg-type]
    if s.base_url:
        hosts = Hosts.local(s.base_url)
    elif s.pod:
        hosts = Hosts.for_pod(s.pod)
    elif s.api_key:
        hosts = Hosts.for_api_key(s.api_key)
    else:
        hosts = Hosts.us1()
    return MParticle(
        oauth=OAuthClientCredentials(s.client_id, s.client_secret)
        if s.client_id and s.client_secret
        else None,
        identity_auth=_identity_auth(s, s.api_key, s.api_secret) if s.api_key else None,
        events_auth=BasicAuth(s.api_key, s.api_secret) if s.api_key and s.api_secret else None,
        workspace=workspace,
        hosts=hosts,
    )


@contextlib.asynccontextmanager
async def open_client(
    settings: Settings, *, emulator_profiles: int = EMULATOR_PROFILES
) -> AsyncIterator[tuple[MParticle, Emulator | None]]:
    """The client the settings describe, with the in-process emulator when ``--emulator``."""
    if not settings.emulator:
        async with _client(settings) as mp:
            yield mp, None
        return
    async with Emulator(profiles=emulator_profiles, seed=0) as emu:
        emu.state.identity.key_only_enabled = True
        state = emu.state
        pointed = attrs.evolve(
            settings,
            client_id=state.client_id,
            client_secret=state.client_secret,
            api_key=state.api_key,
            api_secret=state.api_secret,
            org_id=state.org_id,
            account_id=state.account_id,
            workspace_id=state.workspace_id,
            base_url=emu.url,
        )
        async with _client(pointed) as mp:
            yield mp, emu


def run_async(function: Callable[..., Coroutine[Any, Any, int | None]]) -> Callable[..., int]:
    """Run a command's coroutine; turn mp_async errors into one line on stderr and an exit code."""

    @functools.wraps(function)
    def command(*args: Any, **kwargs: Any) -> int:
        try:
            return asyncio.run(function(*args, **kwargs)) or 0
        except InvalidRequest as exc:
            click.echo(f"mp-async: {exc}", err=True)
            return 2
        except MParticleError as exc:
            click.echo(f"mp-async: {type(exc).__name__}: {exc}", err=True)
            return 1

    return command


def settings() -> Settings:
    """The current command's settings."""
    return click.get_current_context().ensure_object(Settings)


def to_json(value: Any) -> Any:
    """A model (or anything) as plain JSON values."""
    return converter.unstructure(value)


def emit(document: Any, table: Callable[[], None]) -> None:
    """Print ``document`` as JSON with ``--json``, else call ``table`` to print it readably."""
    if settings().json:
        click.echo(json.dumps(to_json(document), indent=2, default=str))
    else:
        table()


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[object]], *, title: str | None = None
) -> None:
    """A table on stdout."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    Console(highlight=False, width=max(Console().width, 100)).print(table)


def error_json(error: BaseException) -> dict[str, Any]:
    """An error as a JSON object: its type, status (if any) and message."""
    return {
        "type": type(error).__name__,
        "status": getattr(error, "status", None),
        "message": str(error),
    }


def is_tty() -> bool:
    """True when stderr is a terminal (progress bars go there)."""
    return sys.stderr.isatty()

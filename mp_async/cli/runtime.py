"""What every command shares: credentials from flags or ``MPARTICLE_*``, the client (or an
in-process emulator), output (data on stdout, everything else on stderr), and errors as one
line that names the flag or variable to fix, with an exit code."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import sys
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Literal, TypeVar

import attrs
import click
from rich.console import Console
from rich.table import Table

from ..api.mpid import mpid_from_text
from ..auth import ApiKeyAuth, BasicAuth, HmacDigestAuth, OAuthClientCredentials
from ..auth.base import AuthStrategy
from ..client import MParticle
from ..converter import converter
from ..emulator import Emulator
from ..errors import (
    CertificateError,
    Forbidden,
    InvalidRequest,
    MParticleError,
    TransportError,
    Unauthorized,
)
from ..hosts import PODS, Hosts, Workspace
from ..session import RetryEvent, Session
from .progress import ProgressMode

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UNREACHABLE",
    "Settings",
    "common_options",
    "emit",
    "error_json",
    "hint_for",
    "mpid_option",
    "mpid_out",
    "open_client",
    "print_table",
    "bulk_options",
    "report",
    "require",
    "run_async",
    "settings",
    "stderr",
    "to_json",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

F = TypeVar("F", bound=Callable[..., Any])

stderr = Console(stderr=True, highlight=False)

#: Profiles the in-process emulator of ``--emulator`` is seeded with (seed 0).
EMULATOR_PROFILES = 1000


@attrs.define
class Settings:
    """Options every command takes; flags win over ``MPARTICLE_*`` environment variables."""

    emulator: bool = False
    json: bool = False
    verbose: int = 0
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
    mpid_as_number: bool = False


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    settings = ctx.ensure_object(Settings)
    if value is not None and param.name:
        setattr(settings, param.name, value)
    return value


def _option(*names: str, **kwargs: Any) -> Callable[[F], F]:
    if "envvar" in kwargs:
        kwargs.setdefault("show_envvar", True)
    return click.option(*names, expose_value=False, callback=_store, **kwargs)


# The flag and the variable that set each setting, for messages that say what to fix.
_WHERE = {
    "client_id": ("--client-id", "MPARTICLE_CLIENT_ID"),
    "client_secret": ("--client-secret", "MPARTICLE_CLIENT_SECRET"),
    "api_key": ("--api-key", "MPARTICLE_API_KEY"),
    "api_secret": ("--api-secret", "MPARTICLE_API_SECRET"),
    "org_id": ("--org-id", "MPARTICLE_ORG_ID"),
    "account_id": ("--account-id", "MPARTICLE_ACCOUNT_ID"),
    "workspace_id": ("--workspace-id", "MPARTICLE_WORKSPACE_ID"),
    "base_url": ("--base-url", "MPARTICLE_BASE_URL"),
    "pod": ("--pod", "MPARTICLE_POD"),
}


def _flags(*names: str) -> str:
    """``--a and --b (MPARTICLE_A, MPARTICLE_B)``: how an operator sets these settings."""
    flags = [_WHERE[n][0] for n in names]
    variables = ", ".join(_WHERE[n][1] for n in names)
    said = flags[0] if len(flags) == 1 else ", ".join(flags[:-1]) + " and " + flags[-1]
    return f"{said} ({variables})"


_OAUTH = ("client_id", "client_secret")
_KEYS = ("api_key", "api_secret")
_WORKSPACE = ("org_id", "account_id", "workspace_id")

_COMMON = [
    _option(
        "--emulator",
        is_flag=True,
        default=None,
        help="Run against an in-process emulator (seeded with 1,000 profiles, seed 0).",
    ),
    _option(
        "--json",
        is_flag=True,
        default=None,
        help="JSON instead of tables (summaries and progress lines on stderr are JSON too).",
    ),
    _option(
        "-v",
        "--verbose",
        count=True,
        default=None,
        help="Show the library's log: -v warnings, -vv every retry.",
    ),
    _option("--client-id", envvar="MPARTICLE_CLIENT_ID", help="OAuth client id (Profile, Groups)."),
    _option("--client-secret", envvar="MPARTICLE_CLIENT_SECRET", help="OAuth client secret."),
    _option("--api-key", envvar="MPARTICLE_API_KEY", help="Identity and Events API key."),
    _option("--api-secret", envvar="MPARTICLE_API_SECRET", help="Identity and Events API secret."),
    _option("--org-id", type=click.IntRange(1), envvar="MPARTICLE_ORG_ID", help="Organization id."),
    _option(
        "--account-id", type=click.IntRange(1), envvar="MPARTICLE_ACCOUNT_ID", help="Account id."
    ),
    _option(
        "--workspace-id",
        type=click.IntRange(1),
        envvar="MPARTICLE_WORKSPACE_ID",
        help="Workspace id.",
    ),
    _option(
        "--pod",
        type=click.Choice(PODS, case_sensitive=False),
        envvar="MPARTICLE_POD",
        help="The mParticle pod (region) the account lives in.",
    ),
    _option(
        "--base-url",
        envvar="MPARTICLE_BASE_URL",
        help="Send every API to this server (an emulator).",
    ),
]


def common_options(command: F) -> F:
    """Add the credential, ``--emulator``, ``--json`` and ``--verbose`` options to a command."""
    for option in reversed(_COMMON):
        command = option(command)
    return command


def mpid_option(command: F) -> F:
    """Add ``--mpid-as-number`` to a command that prints MPIDs in JSON."""
    return _option(
        "--mpid-as-number",
        is_flag=True,
        default=None,
        help="Write MPIDs in JSON as numbers. By default they are strings: they pass 2^53, "
        "where jq and JavaScript round numbers.",
    )(command)


def bulk_options(command: F) -> F:
    """Add the options of a bulk command: progress, and when to give up on a silent server."""
    command = click.option(
        "--give-up-after",
        type=click.FloatRange(min=0, min_open=True),
        default=60.0,
        show_default=True,
        metavar="SECONDS",
        help="Stop when the server has not answered at all for this long (every connection "
        "refused or timed out).",
    )(command)
    command = click.option(
        "--progress-interval",
        type=click.FloatRange(min=0, min_open=True),
        default=5.0,
        show_default=True,
        metavar="SECONDS",
        help="Without a terminal, print a progress line to stderr this often.",
    )(command)
    return click.option(
        "--progress/--no-progress",
        default=None,
        help="Show progress on stderr: a live bar on a terminal, else a line every "
        "--progress-interval seconds (default: on).",
    )(command)


def progress_mode(progress: bool | None) -> ProgressMode:
    """How to show progress: off when asked, a live bar on a terminal, else lines."""
    if progress is False:
        return "off"
    return "live" if sys.stderr.isatty() else "lines"


def auth_option(command: F) -> F:
    """Add ``--auth hmac|basic|key`` (how Identity requests are authenticated)."""
    return _option(
        "--auth",
        type=click.Choice(["hmac", "basic", "key"]),
        default=None,
        help="Identity API auth: HMAC digest (default, recommended), Basic, or key only.",
    )(command)


# --- what a command needs, and what to tell the operator ----------------------------------

Need = Literal["oauth", "workspace", "keys", "key"]

_NEEDS: Mapping[Need, tuple[tuple[str, ...], str]] = {
    "oauth": (_OAUTH, "OAuth client credentials"),
    "workspace": (_WORKSPACE, "a workspace"),
    "keys": (_KEYS, "an API key and secret"),
    "key": (("api_key",), "an API key"),
}


def require(settings: Settings, api: str, *needs: Need) -> None:
    """Stop with a usage error naming every missing flag (and variable) ``api`` needs."""
    if settings.emulator:
        return
    missing: list[str] = []
    what: list[str] = []
    for need in needs:
        names, description = _NEEDS[need]
        absent = [n for n in names if getattr(settings, n) in (None, "")]
        if absent:
            missing += absent
            what.append(description)
    if missing:
        raise click.UsageError(
            f"the {api} needs {' and '.join(what)}: set {_flags(*missing)}, or use --emulator"
        )


def _api_of(path: str) -> str:
    """Which credentials a request used, from its path (behind ``Hosts.local``'s prefixes too)."""
    if path.endswith("/oauth/token"):
        return "token"
    if "/v2/events" in path or "/v2/bulkevents" in path:
        return "events"
    if "/userprofile/" in path or "/platform/" in path:
        return "oauth"
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if "/v1/" in path and last in ("identify", "search", "login", "logout", "modify"):
        return "identity"
    return "oauth"  # the Platform API


#: What to check when the server does not answer.
UNREACHABLE = f"check {_flags('base_url')} or {_flags('pod')}, and the network"


def hint_for(error: BaseException) -> str | None:
    """What an operator can change about ``error``: the flags and variables to check."""
    if isinstance(error, CertificateError):
        return f"the server's TLS certificate did not verify: check {_flags('base_url')}"
    if isinstance(error, TransportError):
        return UNREACHABLE
    if not isinstance(error, (Unauthorized, Forbidden)):
        return None
    api = _api_of(getattr(error, "path", "") or "")
    if api == "token":
        return f"the OAuth client id or secret was refused: check {_flags(*_OAUTH)}"
    if api == "events":
        return f"the Events API refused the key or secret: check {_flags(*_KEYS)}"
    if api == "identity":
        return f"the Identity API refused the credentials: check {_flags(*_KEYS)} and --auth"
    if isinstance(error, Forbidden):
        return (
            f"the OAuth client may not use this workspace: check {_flags(*_WORKSPACE)} "
            "and the client's permissions"
        )
    return f"the OAuth token was refused: check {_flags(*_OAUTH)}"


def describe(error: BaseException) -> str:
    """One line for the operator: the error, and what to check when we know."""
    hint = hint_for(error)
    text = f"{type(error).__name__}: {error}"
    return f"{text}; {hint}" if hint else text


# --- the client ----------------------------------------------------------------------------


def _identity_auth(settings: Settings, key: str, secret: str | None) -> AuthStrategy | None:
    if settings.auth == "key":
        return ApiKeyAuth(key)
    if secret is None:
        return None
    return BasicAuth(key, secret) if settings.auth == "basic" else HmacDigestAuth(key, secret)


def _hosts(settings: Settings) -> Hosts:
    if settings.base_url:
        return Hosts.local(settings.base_url)
    if settings.pod:
        return Hosts.for_pod(settings.pod)
    if settings.api_key:
        return Hosts.for_api_key(settings.api_key)
    return Hosts.us1()


def _client(settings: Settings, on_retry: Callable[[RetryEvent], object] | None) -> MParticle:
    s = settings
    ids = (s.org_id, s.account_id, s.workspace_id)
    workspace = Workspace(*ids) if all(i is not None for i in ids) else None  # type: ignore[arg-type]
    return MParticle(
        oauth=OAuthClientCredentials(s.client_id, s.client_secret)
        if s.client_id and s.client_secret
        else None,
        identity_auth=_identity_auth(s, s.api_key, s.api_secret) if s.api_key else None,
        events_auth=BasicAuth(s.api_key, s.api_secret) if s.api_key and s.api_secret else None,
        workspace=workspace,
        hosts=_hosts(s),
        session=Session(on_retry=on_retry),
    )


@contextlib.asynccontextmanager
async def open_client(
    settings: Settings,
    *,
    on_retry: Callable[[RetryEvent], object] | None = None,
    emulator_profiles: int = EMULATOR_PROFILES,
) -> AsyncIterator[tuple[MParticle, Emulator | None]]:
    """The client the settings describe, with the in-process emulator when ``--emulator``."""
    if not settings.emulator:
        async with _client(settings, on_retry) as mp:
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
        async with _client(pointed, on_retry) as mp:
            yield mp, emu


@contextlib.contextmanager
def _library_log(verbose: int) -> Iterator[None]:
    """The library's log while a command runs: quiet by default, on stderr with -v."""
    # The command line reports failures itself; the library's warnings (one per failed bulk
    # request) would repeat them hundreds of times. -v shows them, -vv every retry too.
    logger = logging.getLogger("mp_async")
    level = logger.level
    logger.setLevel(logging.ERROR if verbose <= 0 else logging.WARNING if verbose == 1 else 0)
    handler = None
    if verbose > 0:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("mp-async: %(levelname)s %(message)s"))
        logger.addHandler(handler)
    try:
        yield
    finally:
        logger.setLevel(level)
        if handler is not None:
            logger.removeHandler(handler)


def run_async(function: Callable[..., Coroutine[Any, Any, int | None]]) -> Callable[..., int]:
    """Run a command's coroutine; turn mp_async errors into one line on stderr and an exit code."""

    @functools.wraps(function)
    def command(*args: Any, **kwargs: Any) -> int:
        try:
            with _library_log(settings().verbose):
                return asyncio.run(function(*args, **kwargs)) or EXIT_OK
        except InvalidRequest as exc:  # MissingCredentials too: bad usage, nothing was sent
            click.echo(f"mp-async: {exc}", err=True)
            return EXIT_USAGE
        except MParticleError as exc:
            click.echo(f"mp-async: {describe(exc)}", err=True)
            return EXIT_FAILED
        except KeyboardInterrupt:
            click.echo("mp-async: interrupted", err=True)
            return EXIT_INTERRUPTED

    return command


def settings() -> Settings:
    """The current command's settings."""
    return click.get_current_context().ensure_object(Settings)


# --- output --------------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """A model (or anything) as plain JSON values."""
    return converter.unstructure(value)


def mpid_out(mpid: object, as_number: bool) -> object:
    """An MPID for JSON output: a string of digits, or a number with ``--mpid-as-number``.

    MPIDs are signed 64-bit integers; above 2^53 a JSON number is rounded by jq and
    JavaScript (3653260803050964941 becomes 3653260803050965000), so text is the default.
    Text that is not an MPID is written back as it was read.
    """
    value = mpid_from_text(mpid) if isinstance(mpid, str) else mpid
    if isinstance(value, int) and not isinstance(value, bool):
        return value if as_number else str(value)
    return mpid


def with_mpid_out(document: Any, as_number: bool) -> Any:
    """``document`` with its top-level ``mpid`` written as ``mpid_out`` says."""
    if isinstance(document, dict) and "mpid" in document:
        return {**document, "mpid": mpid_out(document["mpid"], as_number)}
    return document


def emit(document: Any, table: Callable[[], None]) -> None:
    """Data on stdout: ``document`` as JSON with ``--json``, else ``table()`` readably."""
    s = settings()
    if s.json:
        data = with_mpid_out(to_json(document), s.mpid_as_number)
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        table()


def report(summary: Mapping[str, Any], rows: Iterable[Sequence[object]], *, title: str) -> None:
    """A command's summary on stderr: one JSON line with ``--json``, else a table."""
    if settings().json:
        click.echo(json.dumps({"summary": summary}, default=str), err=True)
    else:
        print_table(("", ""), rows, title=title, err=True)


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    title: str | None = None,
    err: bool = False,
) -> None:
    """A table on stdout (or stderr)."""
    table = Table(title=title, title_justify="left", show_header=any(columns))
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    Console(highlight=False, stderr=err, width=max(Console(stderr=err).width, 100)).print(table)


def error_json(error: BaseException) -> dict[str, Any]:
    """An error as a JSON object: its type, status (if any) and message."""
    return {
        "type": type(error).__name__,
        "status": getattr(error, "status", None),
        "message": str(error),
    }

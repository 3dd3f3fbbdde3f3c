"""The ``mp-async`` command tree: identity, groups and emulator here (profiles, events and
demo in their modules), and ``run``, which maps outcomes to exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import sys
from collections.abc import Sequence
from typing import Any

import click

from ..api.groups import GroupAttribute, GroupDefinition, validate_definition
from ..api.identity import IdentityResult
from ..emulator import Emulator, Faults
from ..errors import InvalidRequest
from ..protocol import ENVIRONMENTS, GROUP_ATTRIBUTE_TYPES, IDENTITY_SPELLINGS, IDENTITY_TYPES
from .demo import demo
from .events import events
from .inputs import BadInput
from .profiles import profile, profiles
from .runtime import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    auth_option,
    common_options,
    emit,
    mpid_option,
    open_client,
    print_table,
    require,
    run_async,
    settings,
)

__all__ = ["cli", "run"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mp-async", prog_name="mp-async")
def cli() -> None:
    """mp-async: mParticle's server-side APIs from the shell.

    Credentials come from MPARTICLE_* environment variables or flags; --emulator runs any
    command against an in-process emulator instead.
    """


cli.add_command(profile)
cli.add_command(profiles)
cli.add_command(events)
cli.add_command(demo)


# --- identity ------------------------------------------------------------------------------


def _identities(
    email: str | None, customer_id: str | None, pairs: tuple[str, ...]
) -> dict[str, str]:
    found: dict[str, str] = {}
    if email:
        found["email"] = email
    if customer_id:
        found["customerid"] = customer_id
    for pair in pairs:
        identity_type, sep, value = pair.partition("=")
        if not sep or not identity_type or not value:
            raise click.BadParameter(f"{pair!r} is not TYPE=VALUE", param_hint="--id")
        if identity_type not in IDENTITY_TYPES:
            spelled = IDENTITY_SPELLINGS.get(identity_type)
            raise click.BadParameter(
                f"the Identity API spells {identity_type!r} as {spelled!r}"
                if spelled
                else f"{identity_type!r} is not an Identity API identity type; use one of "
                f"{', '.join(IDENTITY_TYPES)}",
                param_hint="--id",
            )
        found[identity_type] = value
    if not found:
        raise click.UsageError(
            "name at least one identity: --email, --customer-id or --id TYPE=VALUE"
        )
    return found


def _show_identity(result: IdentityResult) -> None:
    rows: list[tuple[str, object]] = [
        ("mpid", result.mpid),
        ("is_ephemeral", result.is_ephemeral),
        ("is_logged_in", result.is_logged_in),
    ]
    rows += [(f"matched {k}", v) for k, v in sorted(result.matched_identities.items())]
    print_table(("field", "value"), rows)


@cli.group()
def identity() -> None:
    """Resolve identities to an MPID (IDSync)."""


def _identity_command(call: str) -> None:
    @identity.command(call, help=f"Call the Identity API's /{call} with the identities given.")
    @click.option("--email", help="The user's email address.")
    @click.option("--customer-id", help="The user's customer id (the customerid identity).")
    @click.option(
        "--id",
        "pairs",
        multiple=True,
        metavar="TYPE=VALUE",
        help="Any documented identity type, e.g. --id android_uuid=abc (repeatable).",
    )
    @click.option(
        "--environment",
        type=click.Choice(ENVIRONMENTS),
        default="production",
        show_default=True,
        help="The environment the identities belong to.",
    )
    @auth_option
    @mpid_option
    @common_options
    @run_async
    async def command(
        email: str | None, customer_id: str | None, pairs: tuple[str, ...], environment: str
    ) -> None:
        known = _identities(email, customer_id, pairs)
        s = settings()
        require(s, "Identity API", "key" if s.auth == "key" else "keys")
        async with open_client(s) as (mp, _):
            result = await getattr(mp.identity, call)(known, environment=environment)
        emit(result, lambda: _show_identity(result))


for _call in ("identify", "search", "login", "logout"):
    _identity_command(_call)


# --- groups --------------------------------------------------------------------------------


@cli.group()
def groups() -> None:
    """Group Identity definitions."""


def _group_rows(items: Sequence[Any]) -> list[tuple[object, ...]]:
    return [
        (
            g.id,
            g.source_user_attribute,
            ", ".join(f"{a.id}:{a.type}" for a in g.attributes),
            g.description,
        )
        for g in items
    ]


_GROUP_COLUMNS = ("id", "source_user_attribute", "attributes", "description")


@groups.command("list")
@common_options
@run_async
async def list_groups() -> None:
    """List the workspace's group definitions."""
    require(settings(), "Group Identity API", "oauth", "workspace")
    async with open_client(settings()) as (mp, _):
        found = await mp.groups.list()
    emit(found, lambda: print_table(_GROUP_COLUMNS, _group_rows(found)))


@groups.command("get")
@click.argument("group_id")
@common_options
@run_async
async def get_group(group_id: str) -> None:
    """Show one group definition."""
    require(settings(), "Group Identity API", "oauth", "workspace")
    async with open_client(settings()) as (mp, _):
        found = await mp.groups.get(group_id)
    emit(found, lambda: print_table(_GROUP_COLUMNS, _group_rows([found])))


def _attribute(pair: str) -> GroupAttribute:
    attribute_id, sep, attribute_type = pair.rpartition(":")
    if not sep:
        raise click.BadParameter(f"{pair!r} is not ID:TYPE", param_hint="--attribute")
    return GroupAttribute(attribute_id, attribute_type)


def _group_flag(message: str) -> str:
    """The flag a group definition's error is about, from the field its message names."""
    for field, flag in (
        ("group id", "--id"),
        ("source_user_attribute", "--source-user-attribute"),
        ("description", "--description"),
    ):
        if message.startswith(field):
            return flag
    return "--attribute"


@groups.command("create")
@click.option("--id", "group_id", required=True, help="The group's id: 3 to 32 characters.")
@click.option(
    "--source-user-attribute",
    required=True,
    help="The user attribute whose value makes users one group (e.g. $address).",
)
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    metavar="ID:TYPE",
    help=f"An attribute to aggregate; TYPE is one of {', '.join(GROUP_ATTRIBUTE_TYPES)}.",
)
@click.option("--description", default="", help="Up to 255 characters.")
@common_options
@run_async
async def create_group(
    group_id: str, source_user_attribute: str, attributes: tuple[str, ...], description: str
) -> None:
    """Create a group definition."""
    definition = GroupDefinition(
        group_id, source_user_attribute, [_attribute(a) for a in attributes], description
    )
    try:
        validate_definition(definition)
    except InvalidRequest as exc:
        raise click.BadParameter(str(exc), param_hint=_group_flag(str(exc))) from None
    require(settings(), "Group Identity API", "oauth", "workspace")
    async with open_client(settings()) as (mp, _):
        created = await mp.groups.create(definition)
    emit(created, lambda: print_table(_GROUP_COLUMNS, _group_rows([created])))


@groups.command("delete")
@click.argument("group_id")
@common_options
@run_async
async def delete_group(group_id: str) -> None:
    """Delete a group definition."""
    require(settings(), "Group Identity API", "oauth", "workspace")
    async with open_client(settings()) as (mp, _):
        await mp.groups.delete(group_id)
    emit({"deleted": group_id}, lambda: click.echo(f"deleted {group_id}"))


@cli.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="The port to listen on (0: any free port).",
)
@click.option(
    "--profiles",
    "profile_count",
    type=click.IntRange(0),
    default=1000,
    show_default=True,
    help="Profiles to seed.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seeds the profiles and the faults."
)
@click.option(
    "--throttle",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="PER_SECOND",
    help="Answer 429 (with Retry-After) above this many requests per second per API.",
)
@click.option(
    "--error-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of API requests answered 503 at random.",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds added to every API reply.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the settings as one JSON object instead of export lines.",
)
def run_emulator(
    host: str,
    port: int,
    profile_count: int,
    seed: int,
    throttle: float | None,
    error_rate: float,
    latency: float,
    as_json: bool,
) -> None:
    """Serve a local mParticle until interrupted.

    Prints on stdout the MPARTICLE_* variables that point a client at it, as export lines a
    shell can eval (or, with --json, a JSON object); everything else goes to stderr:

        mp-async emulator --port 8080 > emulator.env &
        eval "$(cat emulator.env)"; mp-async profile get ...
    """

    async def serve() -> None:
        faults = Faults(
            seed=seed, throttle_rate=throttle, error_rate_503=error_rate, latency=latency
        )
        async with Emulator(
            host=host, port=port, profiles=profile_count, seed=seed, faults=faults
        ) as emu:
            variables = emulator_variables(emu)
            if as_json:
                click.echo(json.dumps(variables, indent=2))
            else:
                for name, value in variables.items():
                    click.echo(f"export {name}={shlex.quote(value)}")
            sys.stdout.flush()
            click.echo(
                f"mp-async: mParticle emulator on {emu.url} ({profile_count:,} profiles); "
                "Ctrl-C stops it",
                err=True,
            )
            if emu.seeded_mpids:
                click.echo(f"mp-async: a seeded MPID to try: {emu.seeded_mpids[0]}", err=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


def emulator_variables(emu: Emulator) -> dict[str, str]:
    """The ``MPARTICLE_*`` variables that point a client at ``emu``."""
    state = emu.state
    return {
        "MPARTICLE_BASE_URL": emu.url,
        "MPARTICLE_CLIENT_ID": state.client_id,
        "MPARTICLE_CLIENT_SECRET": state.client_secret,
        "MPARTICLE_API_KEY": state.api_key,
        "MPARTICLE_API_SECRET": state.api_secret,
        "MPARTICLE_ORG_ID": str(state.org_id),
        "MPARTICLE_ACCOUNT_ID": str(state.account_id),
        "MPARTICLE_WORKSPACE_ID": str(state.workspace_id),
    }


# --- running -------------------------------------------------------------------------------


def run(argv: Sequence[str] | None) -> int:
    """Run the command tree; 0 success, 1 failures, 2 bad usage or input, 130 Ctrl-C."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="mp-async",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "mp-async"
        click.echo(f"mp-async: {exc.format_message()} (see '{where} --help')", err=True)
        return EXIT_USAGE
    except click.ClickException as exc:
        click.echo(f"mp-async: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.Abort:
        click.echo("mp-async: interrupted", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("mp-async: interrupted", err=True)
        return EXIT_INTERRUPTED
    except BadInput as exc:
        click.echo(f"mp-async: {exc}", err=True)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader of stdout went away (| head): nothing more to say to it, and Python's
        # flush at exit must not fail on it again (the recipe of Python's signal docs).
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:  # a file that cannot be read or written, a port already taken
        click.echo(f"mp-async: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        return EXIT_USAGE if isinstance(exc, _PATH_ERRORS) else EXIT_FAILED
    return result if isinstance(result, int) else EXIT_OK


# OSErrors that say a path the user gave is wrong: bad input, exit code 2.
_PATH_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)

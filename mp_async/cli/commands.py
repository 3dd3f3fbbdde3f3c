"""The ``mp-async`` command tree: identity, groups, events, emulator and demo (profiles in
profiles.py), and ``run``, which maps outcomes to exit codes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import click

from ..api.groups import GroupAttribute, GroupDefinition
from ..api.identity import IdentityResult
from ..emulator import Emulator, Faults
from ..protocol import ENVIRONMENTS, GROUP_ATTRIBUTE_TYPES
from .demo import demo
from .events import events
from .profiles import profile, profiles
from .runtime import (
    auth_option,
    common_options,
    emit,
    open_client,
    print_table,
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
    @click.option("--email")
    @click.option("--customer-id")
    @click.option(
        "--id",
        "pairs",
        multiple=True,
        metavar="TYPE=VALUE",
        help="Any documented identity type, e.g. --id android_uuid=abc (repeatable).",
    )
    @click.option("--environment", type=click.Choice(ENVIRONMENTS), default="production")
    @auth_option
    @common_options
    @run_async
    async def command(
        email: str | None, customer_id: str | None, pairs: tuple[str, ...], environment: str
    ) -> None:
        known = _identities(email, customer_id, pairs)
        async with open_client(settings()) as (mp, _):
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
    async with open_client(settings()) as (mp, _):
        found = await mp.groups.list()
    emit(found, lambda: print_table(_GROUP_COLUMNS, _group_rows(found)))


@groups.command("get")
@click.argument("group_id")
@common_options
@run_async
async def get_group(group_id: str) -> None:
    """Show one group definition."""
    async with open_client(settings()) as (mp, _):
        found = await mp.groups.get(group_id)
    emit(found, lambda: print_table(_GROUP_COLUMNS, _group_rows([found])))


def _attribute(pair: str) -> GroupAttribute:
    attribute_id, sep, attribute_type = pair.rpartition(":")
    if not sep:
        raise click.BadParameter(f"{pair!r} is not ID:TYPE", param_hint="--attribute")
    return GroupAttribute(attribute_id, attribute_type)


@groups.command("create")
@click.option("--id", "group_id", required=True, help="3 to 32 characters.")
@click.option("--source-user-attribute", required=True)
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    metavar="ID:TYPE",
    help=f"An attribute to aggregate; TYPE is one of {', '.join(GROUP_ATTRIBUTE_TYPES)}.",
)
@click.option("--description", default="")
@common_options
@run_async
async def create_group(
    group_id: str, source_user_attribute: str, attributes: tuple[str, ...], description: str
) -> None:
    """Create a group definition."""
    definition = GroupDefinition(
        group_id, source_user_attribute, [_attribute(a) for a in attributes], description
    )
    async with open_client(settings()) as (mp, _):
        created = await mp.groups.create(definition)
    emit(created, lambda: print_table(_GROUP_COLUMNS, _group_rows([created])))


@groups.command("delete")
@click.argument("group_id")
@common_options
@run_async
async def delete_group(group_id: str) -> None:
    """Delete a group definition."""
    async with open_client(settings()) as (mp, _):
        await mp.groups.delete(group_id)
    emit({"deleted": group_id}, lambda: click.echo(f"deleted {group_id}"))


@cli.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--profiles",
    "profile_count",
    type=click.IntRange(0),
    default=1000,
    show_default=True,
    help="Profiles to seed.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--throttle", type=float, default=None, help="Requests per second before 429s.")
def run_emulator(
    host: str, port: int, profile_count: int, seed: int, throttle: float | None
) -> None:
    """Serve a local mParticle until interrupted."""

    async def serve() -> None:
        faults = Faults(seed=seed, throttle_rate=throttle)
        async with Emulator(
            host=host, port=port, profiles=profile_count, seed=seed, faults=faults
        ) as emu:
            click.echo(
                f"mParticle emulator on {emu.url} ({profile_count} profiles); Ctrl-C stops it"
            )
            click.echo("point a client at it with these environment variables:")
            click.echo(emu.describe())
            if emu.seeded_mpids:
                click.echo(f"a seeded MPID to try: {emu.seeded_mpids[0]}", nl=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


# --- running -------------------------------------------------------------------------------


def run(argv: Sequence[str] | None) -> int:
    """Run the command tree; 0 success, 1 API error, 2 bad usage."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="mp-async",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        exc.show()
        return 2
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("mp-async: aborted", err=True)
        return 1
    except OSError as exc:  # a file that cannot be read or written, a port already taken
        click.echo(f"mp-async: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        return 2 if isinstance(exc, _PATH_ERRORS) else 1
    return result if isinstance(result, int) else 0


# OSErrors that say a path the user gave is wrong: bad input, exit code 2.
_PATH_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)

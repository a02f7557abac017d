"""``ewarn aliases list|add|remove|import FILE|export|resolve``: the operator's vendor aliases from the shell.

Mounted by the ``ewarn`` command. It writes to the database in ``EWARN_DATABASE_URL`` (auditing each change as
``cli:<user>`` unless ``--actor`` says otherwise) and announces the change on the configured bus: with Kafka
every correlator applies it at once; on the embedded default (in-process bus) a running ``ewarn serve`` applies
it at its next start or the next alias change made through its API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from ewarn import cli_support
from ewarn.correlate import aliases_sync
from ewarn.models.common import utcnow
from ewarn.names import canonical_vendor, default_entries
from ewarn.runtime import Runtime
from ewarn.store.repositories import aliases as repo
from ewarn.store.repositories.audit import cli_actor, record_audit

app = typer.Typer(help="Vendor aliases operators add on top of the shipped table.", no_args_is_help=True)
console = Console()
EXIT_REFUSED = 1

ActorOption = Annotated[str | None, typer.Option(help="Who makes the change, for the audit trail.")]


def _actor(actor: str | None) -> str:
    return actor or cli_support.cli_actor()


async def _announce(runtime: Runtime) -> None:
    await aliases_sync.changed(sessions=runtime.sessions, bus=runtime.bus, topics=runtime.topics)


@app.command("list")
def list_(
    shipped: Annotated[bool, typer.Option("--default", help="Show the shipped table instead.")] = False,
) -> None:
    """The operator's aliases (or, with --default, the shipped table)."""
    table = Table("alias", "brand", "group", "note", *(() if shipped else ("changed by", "at")))
    if shipped:
        for entry in default_entries():
            table.add_row(", ".join(entry.aliases), entry.brand, entry.group, entry.note)
    else:

        async def read(runtime: Runtime) -> list[repo.StoredVendorAlias]:
            async with runtime.sessions() as session:
                return await repo.list_aliases(session=session)

        for alias in cli_support.run_with_bus(read):
            table.add_row(
                alias.alias, alias.brand, alias.group, alias.note, alias.updated_by, str(alias.updated_at)
            )
    console.print(table)


@app.command("add")
def add(
    alias: Annotated[str, typer.Argument(help="The spelling, as advisories or inventories write it.")],
    brand: Annotated[str, typer.Option(help="The brand it stands for.")],
    group: Annotated[str, typer.Option(help="The owner group it is matched under (any known spelling).")],
    note: Annotated[str, typer.Option(help="Why, e.g. 'acquired by X in 2021'.")] = "",
    actor: ActorOption = None,
) -> None:
    """Add or replace the alias of one spelling."""
    try:
        entry = repo.VendorAlias(alias=alias, brand=brand, group=group, note=note)
    except ValidationError as exc:
        console.print(f"[red]refused:[/red] {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
        raise typer.Exit(EXIT_REFUSED) from exc

    async def write(runtime: Runtime) -> str:
        async with runtime.sessions() as session:
            [(action, stored)] = await repo.put_aliases(
                session=session, aliases=[entry], actor=_actor(actor), now=utcnow()
            )
            await record_audit(session, cli_actor(), action, "vendor_alias", [stored.alias_key], entry)
            await session.commit()
        if action != "unchanged":
            await _announce(runtime)
        return action

    console.print(
        f"{cli_support.run_with_bus(write)}: {alias} → brand {brand}, group {canonical_vendor(alias).group}"
    )


@app.command("remove")
def remove(alias: Annotated[str, typer.Argument(help="The spelling.")], actor: ActorOption = None) -> None:
    """Remove the operator's alias of a spelling (the shipped table is not changed)."""

    async def write(runtime: Runtime) -> bool:
        async with runtime.sessions() as session:
            removed = await repo.remove_alias(session=session, alias=alias, actor=_actor(actor), now=utcnow())
            if removed:
                await record_audit(session, cli_actor(), "remove", "vendor_alias", [alias], {"alias": alias})
            await session.commit()
        if removed:
            await _announce(runtime)
        return removed

    if not cli_support.run_with_bus(write):
        console.print(f"[red]no operator alias for[/red] {alias}")
        raise typer.Exit(EXIT_REFUSED)
    console.print(f"removed: {alias}")


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="JSON or CSV file.")
    ],
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="json or csv (default: from the file's suffix).")
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Add or replace every alias of a file; a bad row refuses the whole file."""
    kind: Literal["json", "csv"] = "csv" if (fmt or file.suffix.lstrip(".")).lower() == "csv" else "json"
    try:
        aliases = repo.parse_aliases(file.read_bytes(), kind)
    except repo.AliasImportError as exc:
        console.print(f"[red]import refused:[/red] {exc}")
        raise typer.Exit(EXIT_REFUSED) from exc

    async def write(runtime: Runtime) -> dict[str, int]:
        async with runtime.sessions() as session:
            written = await repo.put_aliases(
                session=session, aliases=aliases, actor=_actor(actor), now=utcnow()
            )
            keys = [s.alias_key for _, s in written]
            await record_audit(
                session, cli_actor(), "import", "vendor_alias", keys, {"format": kind, "rows": len(written)}
            )
            await session.commit()
        counts = {"add": 0, "update": 0, "unchanged": 0}
        for action, _ in written:
            counts[action] += 1
        if counts["add"] or counts["update"]:
            await _announce(runtime)
        return counts

    counts = cli_support.run_with_bus(write)
    console.print(f"added {counts['add']}, updated {counts['update']}, unchanged {counts['unchanged']}")


@app.command("export")
def export(
    file: Annotated[
        Path | None, typer.Argument(dir_okay=False, help="Write here (default: standard output).")
    ] = None,
) -> None:
    """The operator's aliases as JSON that ``ewarn aliases import`` reads back."""

    async def read(runtime: Runtime) -> list[repo.StoredVendorAlias]:
        async with runtime.sessions() as session:
            return await repo.list_aliases(session=session)

    text = repo.export_json(cli_support.run_with_bus(read))
    if file is None:
        typer.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")
        console.print(f"wrote {file}")


@app.command("resolve")
def resolve(
    names: Annotated[list[str], typer.Argument(help="Vendor strings as advisories write them.")],
) -> None:
    """How each vendor string is read with the stored aliases: brand, group, known."""

    async def load(runtime: Runtime) -> None:
        await aliases_sync.apply_from_database(runtime.sessions)

    cli_support.run_with_bus(load)
    for name in names:
        found = canonical_vendor(name)
        extra = f" (also {', '.join(found.others)})" if found.others else ""
        mark = "known" if found.known else "[yellow]unknown[/yellow]"
        console.print(f"{name!r}: brand {found.brand!r}, group {found.group!r}{extra}, {mark}")

"""``ewarn assets``: import inventory files and list a provider's assets from the command line.

Mounted by the ``ewarn`` command as ``app.add_typer(inventory.cli.app, name="assets")``. It writes to the
database in ``EWARN_DATABASE_URL`` and announces changes on the configured bus: with Kafka every correlator
hears of them; on the embedded default (in-process bus) a running ``ewarn serve`` does not, so import through
its API instead.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from ewarn.cli_support import bus_runtime
from ewarn.inventory import service
from ewarn.inventory.importers import ImportFormat, ImportRejected
from ewarn.inventory.models import ImportReport
from ewarn.models.asset import AssetKind
from ewarn.store.repositories.assets import AssetPage, list_assets
from ewarn.store.repositories.audit import cli_actor, record_audit
from ewarn.store.repositories.principals import get_provider

app = typer.Typer(
    name="assets", help="A provider's asset inventory: import files, list assets.", no_args_is_help=True
)
console = Console()
MAX_ERRORS_SHOWN = 50
EXIT_REJECTED = 1
EXIT_ROW_ERRORS = 2


@app.command("import")
def import_(
    provider_id: Annotated[str, typer.Argument(help="The provider (tenant) the assets belong to.")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The file.")],
    fmt: Annotated[ImportFormat, typer.Option("--format", "-f", help="What the file is.")],
    device: Annotated[
        str | None, typer.Option(help="Asset id of the device (or application) the SBOM or VEX belongs to.")
    ] = None,
) -> None:
    """Import a CSV, CycloneDX SBOM, CycloneDX VEX or CSAF VEX file. Exit 2 when some rows were refused."""
    try:
        report = asyncio.run(_import(provider_id, file.read_bytes(), fmt, device))
    except ImportRejected as exc:
        console.print(f"[red]import refused:[/red] {exc}")
        raise typer.Exit(EXIT_REJECTED) from exc
    _print_report(report)
    if report.errors:
        raise typer.Exit(EXIT_ROW_ERRORS)


@app.command("list")
def list_(
    provider_id: Annotated[str, typer.Argument(help="The provider (tenant).")],
    kind: Annotated[AssetKind | None, typer.Option(help="Only assets of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Assets per page.")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Continue after a previous page.")] = None,
) -> None:
    """List a provider's live assets, one page at a time."""
    page = asyncio.run(_list(provider_id, kind, limit, cursor))
    # Ids stay whole so they can be copied into --device or the API.
    table = Table(
        Column("id", no_wrap=True, min_width=36), "kind", "name", "value / identifier", "version", "parent"
    )
    for asset in page.items:
        ident = (
            asset.value or asset.purl or asset.cpe or " ".join(filter(None, (asset.vendor, asset.product)))
        )
        table.add_row(
            asset.id, asset.kind.value, asset.name, ident, asset.version or "", asset.parent_id or ""
        )
    console.print(table)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


async def _import(provider_id: str, data: bytes, fmt: ImportFormat, device: str | None) -> ImportReport:
    async with bus_runtime() as runtime, runtime.sessions() as session:
        if await get_provider(session=session, provider_id=provider_id) is None:
            raise ImportRejected(f"no provider {provider_id!r}")
        with Progress(
            TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as bar:
            task = bar.add_task("import", total=None)
            summary = {"format": fmt, "bytes": len(data), "device": device}
            await record_audit(
                session, cli_actor(), "import", "asset", [provider_id], summary, provider_id=provider_id
            )
            return await service.import_file(
                session=session,
                bus=runtime.bus,
                topics=runtime.topics,
                provider_id=provider_id,
                data=data,
                fmt=fmt,
                device_id=device,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                scope=runtime.settings.inventory.scope,
            )


async def _list(provider_id: str, kind: AssetKind | None, limit: int, cursor: str | None) -> AssetPage:
    async with bus_runtime() as runtime, runtime.sessions() as session:
        return await list_assets(
            session=session, provider_ids={provider_id}, kind=kind, limit=limit, cursor=cursor
        )


def _print_report(report: ImportReport) -> None:
    console.print(
        f"imported {report.imported}, updated {report.updated}, unchanged {report.unchanged}, "
        f"removed {report.removed}, errors {len(report.errors)}"
    )
    if not report.errors:
        return
    table = Table("row", "reason")
    for error in report.errors[:MAX_ERRORS_SHOWN]:
        table.add_row(str(error.row), error.reason)
    console.print(table)
    if len(report.errors) > MAX_ERRORS_SHOWN:
        console.print(f"… and {len(report.errors) - MAX_ERRORS_SHOWN} more")

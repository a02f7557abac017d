"""``ewarn export alerts``: the export of ``GET /api/v1/exports/alerts`` from the shell, as the operator.

The shell is the operator's: every provider's alerts, every TLP (narrow with the options). Written page by
page to the file (or standard output); progress goes to standard error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.cli_progress import cli_progress
from ewarn.cli_support import run_in_session
from ewarn.exports.formats import FORMATS, writer_for
from ewarn.models.alert import AlertStatus, Severity
from ewarn.models.common import utcnow
from ewarn.settings import Settings
from ewarn.store.repositories.alerts import list_alerts

app = typer.Typer(help="Exports: alerts as STIX 2.1, CSV or a MISP event.", no_args_is_help=True)
PAGE = 500


async def write_export(
    session: AsyncSession,
    out: BinaryIO,
    *,
    fmt: str,
    provider_id: str | None = None,
    min_severity: Severity | None = None,
    status: AlertStatus | None = None,
    quiet: bool = True,
) -> int:
    """Write the export of this filter to ``out``; returns the number of alerts written."""
    now = utcnow()
    writer = writer_for(
        fmt, export_id=f"cli\x1f{now.isoformat()}", info=f"ewarn alerts export {now:%Y-%m-%d %H:%M} UTC"
    )
    out.write(writer.head())
    count, after = 0, None
    with cli_progress(f"export alerts ({fmt})", unit="alerts", quiet=quiet) as progress:
        while True:
            items = await list_alerts(
                session=session,
                provider_ids={provider_id} if provider_id else None,
                min_severity=min_severity,
                status=status,
                after=after,
                limit=PAGE,
            )
            for alert in items:
                out.write(writer.item(alert))
            count += len(items)
            progress.update(done=count)
            if len(items) < PAGE:
                break
            after = (items[-1].updated_at or items[-1].matched_at, items[-1].id)
    out.write(writer.tail())
    return count


@app.command("alerts")
def export_alerts(
    fmt: Annotated[str, typer.Option("--format", help="stix, csv or misp")] = "stix",
    output: Annotated[Path | None, typer.Option(help="Write here (default: standard output).")] = None,
    provider_id: Annotated[
        str | None, typer.Option("--provider", help="Only this provider's alerts.")
    ] = None,
    min_severity: Annotated[Severity | None, typer.Option(help="Only this severity and worse.")] = None,
    status: Annotated[AlertStatus | None, typer.Option(help="Only alerts in this state.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress on standard error.")] = False,
) -> None:
    """Every alert of the filter, newest change first (the API list's order)."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose from {', '.join(FORMATS)}", param_hint="--format")

    async def work(session: AsyncSession, _: Settings) -> int:
        if output is None:
            return await write_export(
                session,
                sys.stdout.buffer,
                fmt=fmt,
                provider_id=provider_id,
                min_severity=min_severity,
                status=status,
                quiet=quiet,
            )
        with output.open("wb") as handle:
            return await write_export(
                session,
                handle,
                fmt=fmt,
                provider_id=provider_id,
                min_severity=min_severity,
                status=status,
                quiet=quiet,
            )

    count = run_in_session(work)
    typer.echo(f"{count} alerts exported", err=True)

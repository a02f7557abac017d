"""The ``ewarn`` command."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ewarn import eventloop
from ewarn.advisories.cli import app as advisories_app
from ewarn.cli_keys import app as keys_app
from ewarn.cli_providers import app as providers_app
from ewarn.cli_subscriptions import app as subscriptions_app
from ewarn.correlate.aliases_cli import app as aliases_app
from ewarn.exports.cli import app as export_app
from ewarn.ingest.cli import feeds_app
from ewarn.inventory.cli import app as assets_app
from ewarn.logging import configure_logging
from ewarn.prune_cli import prune as prune_command
from ewarn.runtime import Runtime
from ewarn.secrets_cli import app as secrets_app
from ewarn.settings import load_settings

app = typer.Typer(help="ewarn: early warning of cyber threats for hospitals.", no_args_is_help=True)
console = Console()
app.add_typer(feeds_app, name="feeds")
app.add_typer(assets_app, name="assets")
app.add_typer(advisories_app, name="advisories")
app.add_typer(aliases_app, name="aliases")
app.add_typer(secrets_app, name="secrets")
app.command("prune")(prune_command)
app.add_typer(keys_app, name="keys")
app.add_typer(providers_app, name="providers")
app.add_typer(subscriptions_app, name="subscriptions")
app.add_typer(export_app, name="export")


def _runtime() -> Runtime:
    settings = load_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    return Runtime.build(settings)


@app.command()
def serve(
    roles: Annotated[str, typer.Option(help="Comma-separated roles to run in this process.")] = (
        "ingest,correlate,dispatch,api"
    ),
) -> None:
    """Run the API and every stage in one process (embedded default: SQLite + in-process bus)."""
    from ewarn.roles import serve as serve_roles

    runtime = _runtime()
    wanted = {r.strip() for r in roles.split(",") if r.strip()}
    eventloop.run(
        serve_roles(runtime, wanted),
        kind=runtime.settings.event_loop,
        gc_gen0=runtime.settings.gc_gen0_threshold,
    )


@app.command()
def run(role: Annotated[str, typer.Argument(help="ingest | correlate | dispatch | api")]) -> None:
    """Run one role (scale out by running more copies against Kafka and PostgreSQL)."""
    from ewarn.roles import serve as serve_roles

    runtime = _runtime()
    eventloop.run(
        serve_roles(runtime, {role}),
        kind=runtime.settings.event_loop,
        gc_gen0=runtime.settings.gc_gen0_threshold,
    )


@app.command()
def demo(
    bundle: Annotated[
        Path | None, typer.Argument(help="A STIX bundle; default: the shipped demo bundle.")
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Where the demo database goes (default: a temp dir).")
    ] = None,
) -> None:
    """Run the whole pipeline on a demo hospital and print the alerts as its webhook receives them."""
    from ewarn.demo import run_demo

    configure_logging(level=os.environ.get("EWARN_LOG_LEVEL", "WARNING"), json=False)
    ok = asyncio.run(run_demo(console=console, bundle=bundle, workdir=workdir))
    raise typer.Exit(0 if ok else 1)


@app.command()
def ingest(
    location: Annotated[str, typer.Argument(help="Path or URL of the payload.")],
    kind: Annotated[str, typer.Option(help="Feed kind of the payload.")] = "stix_bundle",
    wait: Annotated[float, typer.Option(help="Seconds to wait for alerts to be delivered.")] = 30.0,
) -> None:
    """One-shot ingest into the database, correlated and dispatched before the command returns."""
    from ewarn.oneshot import ingest_once

    report = asyncio.run(ingest_once(_runtime(), location=location, kind=kind, wait=wait))
    console.print_json(report.model_dump_json())


db_app = typer.Typer(help="Database maintenance.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations up to the newest schema."""
    from ewarn.store.migrate import upgrade_to_head

    runtime = _runtime()

    async def _go() -> None:
        await upgrade_to_head(runtime.engine)
        await runtime.engine.dispose()

    asyncio.run(_go())
    console.print("database is at the newest schema")


schemas_app = typer.Typer(help="JSON Schemas of messages and payloads.")
app.add_typer(schemas_app, name="schemas")


@schemas_app.command("export")
def schemas_export(directory: Annotated[Path, typer.Argument()] = Path("schemas")) -> None:
    """Write the JSON Schema of every message and webhook payload."""
    from ewarn.schemas import export_schemas

    for path in export_schemas(directory):
        console.print(str(path))


def main() -> None:
    app()

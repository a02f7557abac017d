"""The ``ewarn`` command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ewarn.cli_lazy import LazySubApp, mount_lazily
from ewarn.prune_cli import prune as prune_command

if TYPE_CHECKING:
    from ewarn.runtime import Runtime

app = typer.Typer(help="ewarn: early warning of cyber threats for hospitals.", no_args_is_help=True)
console = Console()
app.command("prune")(prune_command)
# Imported when one of their commands runs, not for every ``ewarn`` process (see ewarn.cli_lazy).
mount_lazily(
    app,
    [
        LazySubApp("feeds", "ewarn.ingest.cli:feeds_app", "Configure and poll threat feeds."),
        LazySubApp(
            "assets", "ewarn.inventory.cli:app", "A provider's asset inventory: import files, list assets."
        ),
        LazySubApp("advisories", "ewarn.advisories.cli:app", "Advisories as ewarn reads them."),
        LazySubApp(
            "aliases",
            "ewarn.correlate.aliases_cli:app",
            "Vendor aliases operators add on top of the shipped table.",
        ),
        LazySubApp("secrets", "ewarn.secrets_cli:app", "Secrets at rest: keys and their rotation."),
        LazySubApp("keys", "ewarn.cli_keys:app", "API keys: create, list, revoke, rotate."),
        LazySubApp("providers", "ewarn.cli_providers:app", "Providers (tenants): list and add."),
        LazySubApp("subscriptions", "ewarn.cli_subscriptions:app", "Subscriptions: list."),
        LazySubApp("export", "ewarn.exports.cli:app", "Exports: alerts as STIX 2.1, CSV or a MISP event."),
    ],
)


def _runtime() -> Runtime:
    from ewarn.logging import configure_logging
    from ewarn.runtime import Runtime
    from ewarn.settings import load_settings

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
    from ewarn import eventloop
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
    from ewarn import eventloop
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
    import asyncio

    from ewarn.demo import run_demo
    from ewarn.logging import configure_logging

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
    import asyncio

    from ewarn.oneshot import ingest_once

    report = asyncio.run(ingest_once(_runtime(), location=location, kind=kind, wait=wait))
    console.print_json(report.model_dump_json())


db_app = typer.Typer(help="Database maintenance.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations up to the newest schema."""
    import asyncio

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

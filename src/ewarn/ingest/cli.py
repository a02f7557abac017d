"""``ewarn feeds add|list|poll``: a typer sub-app the ``ewarn`` command mounts as ``feeds``.

``poll`` shows its progress on stderr (``ewarn.cli_progress``) and, like ``add``, leaves an audit row.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ewarn.cli_progress import ProgressSink, cli_progress
from ewarn.errors import ConfigurationError
from ewarn.ingest import repository
from ewarn.ingest.audit import audit_ingest
from ewarn.ingest.models import FeedIn, IngestReport
from ewarn.ingest.service import ingest_service_for
from ewarn.models.common import TLP
from ewarn.runtime import Runtime
from ewarn.settings import load_settings
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.repositories.audit import cli_actor, record_audit

feeds_app = typer.Typer(name="feeds", help="Configure and poll threat feeds.", no_args_is_help=True)
console = Console()
T = TypeVar("T")


def _with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def run() -> T:
        runtime = Runtime.build(load_settings())
        try:
            await upgrade_to_head(runtime.engine)
            return await work(runtime)
        finally:
            http = runtime.services.get("ingest_http")
            if http is not None:
                await http.aclose()
            await runtime.close()

    return asyncio.run(run())


def _json_option(value: str | None, what: str) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{what} must be a JSON object: {exc}") from exc
    if not isinstance(parsed, dict):
        raise typer.BadParameter(f"{what} must be a JSON object")
    return parsed


@feeds_app.command("add")
def add(
    feed_id: Annotated[str, typer.Argument(help="a short id, e.g. cisa-kev")],
    kind: Annotated[str, typer.Option(help="stix_bundle, taxii, ioc_list, misp, kev, csaf or cve5")],
    location: Annotated[str, typer.Option(help="URL or file path")],
    name: Annotated[str, typer.Option()] = "",
    interval: Annotated[int, typer.Option(help="poll interval in seconds")] = 3600,
    tlp: Annotated[TLP, typer.Option(help="TLP when the feed marks none")] = TLP.CLEAR,
    config: Annotated[str | None, typer.Option(help="kind-specific options as JSON")] = None,
    credentials: Annotated[
        str | None,
        typer.Option(
            help='JSON, e.g. {"token": "..."}; stored, never shown', envvar="EWARN_FEED_CREDENTIALS"
        ),
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="register without polling")] = False,
) -> None:
    """Register a feed."""
    feed = FeedIn(
        id=feed_id,
        kind=kind,
        name=name,
        location=location,
        config=_json_option(config, "--config"),
        credentials=_json_option(credentials, "--credentials"),
        interval_seconds=interval,
        default_tlp=tlp,
        enabled=not disabled,
    )

    async def work(runtime: Runtime) -> None:
        async with runtime.sessions() as session, session.begin():
            await repository.create_feed(session=session, feed=feed)
            await record_audit(session, cli_actor(), "create", "feed", [feed_id], feed)

    try:
        _with_runtime(work)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"feed {feed_id} ({kind}) registered")


@feeds_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show every feed with its health."""

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.sessions() as session:
            rows = []
            for feed in await repository.list_feeds(session=session):
                health = await repository.feed_health(session=session, feed_id=feed.id)
                rows.append(
                    {
                        "feed": feed.model_dump(mode="json"),
                        "health": health and health.model_dump(mode="json"),
                    }
                )
            return rows

    rows = _with_runtime(work)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "kind", "enabled", "interval", "accepted", "rejected", "last success", "last error")
    for row in rows:
        feed, health = row["feed"], row["health"] or {}
        table.add_row(
            feed["id"],
            feed["kind"],
            "yes" if feed["enabled"] else "no",
            str(feed["interval_seconds"]),
            str(health.get("accepted_total", 0)),
            str(health.get("rejected_total", 0)),
            str(health.get("last_success_at") or "-"),
            (health.get("last_error") or "-")[:60],
        )
    console.print(table)


def _show_page(progress: ProgressSink) -> Callable[[IngestReport], None]:
    def show(report: IngestReport) -> None:
        progress.update(done=report.pages, accepted=report.accepted, rejected=report.rejected)

    return show


@feeds_app.command("poll")
def poll(
    feed_id: Annotated[str, typer.Argument()],
    from_start: Annotated[
        bool, typer.Option("--from-start", help="backfill: forget the cursor and read the whole feed again")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress on stderr")] = False,
) -> None:
    """Poll one feed now, from its cursor (or from the start), and print the report."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        actor = cli_actor()
        if from_start:
            async with runtime.sessions() as session, session.begin():
                if await repository.reset_feed_cursor(session=session, feed_id=feed_id):
                    await record_audit(session, actor, "backfill", "feed", [feed_id])
        what = f"{'backfill' if from_start else 'poll'} {feed_id}"
        with cli_progress(what, unit="pages", quiet=quiet) as progress:
            report = await ingest_service_for(runtime).poll_feed(feed_id, on_page=_show_page(progress))
        await audit_ingest(runtime.sessions, actor, "poll", report, from_start=from_start)
        return report.model_dump(mode="json", exclude={"rejections"}) | {
            "rejections": [r.reason for r in report.rejections[:20]]
        }

    try:
        report = _with_runtime(work)
    except ConfigurationError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(report, indent=2))
    if report.get("error"):
        raise typer.Exit(1)

"""``ewarn prune``: one retention pass by hand, with progress per table."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from ewarn.retention.prune import PruneReport

console = Console(stderr=True)


def prune() -> None:
    """Delete finished rows older than their retention age (settings section ``retention``), once."""
    # Imported here: ``ewarn`` mounts this command, and its other commands do not need the database stack.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    from ewarn.logging import configure_logging
    from ewarn.retention.prune import TARGET_NAMES, prune_once
    from ewarn.runtime import Runtime
    from ewarn.settings import load_settings
    from ewarn.store.migrate import upgrade_to_head

    settings = load_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    runtime = Runtime.build(settings)

    async def _go() -> PruneReport:
        await upgrade_to_head(runtime.engine)
        with Progress(
            TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), console=console
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def show(table: str, done: int, candidates: int) -> None:
                if table not in tasks:
                    tasks[table] = bar.add_task(table, total=max(candidates, 1))
                bar.update(tasks[table], completed=done if candidates else 1, total=max(candidates, done, 1))

            try:
                return await prune_once(engine=runtime.engine, settings=settings.retention, progress=show)
            finally:
                await runtime.engine.dispose()

    report = asyncio.run(_go())
    if report.skipped:
        console.print("another process is pruning now; nothing done")
        raise typer.Exit(0)
    for name in TARGET_NAMES:
        typer.echo(f"{name}\t{report.pruned[name]}")
    typer.echo(f"total\t{report.total}\t({report.seconds} s)")

"""``ewarn secrets``: make a key, and re-seal every stored secret with the newest key (key rotation).

Rotation, on every process of the service: put the new key first in ``EWARN_SECRETS__KEYS`` (``new,old``) and
restart; run ``ewarn secrets rotate``; then drop the old key and restart again.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from ewarn.crypto.secretbox import generate_key
from ewarn.store.repositories.secrets import BATCH, ResealReport

app = typer.Typer(help="Secrets at rest: keys and their rotation.", no_args_is_help=True)
console = Console()


@app.command("generate-key")
def generate_key_command() -> None:
    """Print a new key for EWARN_SECRETS__KEYS (nothing is stored)."""
    console.print(generate_key(), soft_wrap=True)


@app.command("rotate")
def rotate_command(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = BATCH,
) -> None:
    """Re-encrypt every stored secret with the newest key; safe to re-run, and beside a running service."""
    from ewarn.logging import configure_logging
    from ewarn.runtime import Runtime
    from ewarn.settings import load_settings
    from ewarn.store.migrate import upgrade_to_head
    from ewarn.store.repositories.secrets import reseal_all

    settings = load_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    runtime = Runtime.build(settings)

    async def _go() -> ResealReport:
        try:
            await upgrade_to_head(runtime.engine)
            return await reseal_all(sessions=runtime.sessions, batch=batch)
        finally:
            await runtime.engine.dispose()

    report = asyncio.run(_go())
    console.print(f"rows examined: {report.examined}, secrets re-encrypted: {report.resealed}")
    for row in report.unreadable:
        console.print(f"cannot decrypt {row} with any configured key", style="red")
    if report.unreadable:
        raise typer.Exit(1)

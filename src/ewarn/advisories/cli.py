"""``ewarn advisories …`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Advisories as ewarn reads them.", no_args_is_help=True)


@app.command("check")
def check_command(
    paths: Annotated[list[Path], typer.Argument(help="CSAF files or folders of them", exists=True)],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Print every product/version expression with its verdict and every vendor with its canonical vendor."""
    from ewarn.advisories.check import as_json as render_json
    from ewarn.advisories.check import as_text, check

    reports = check(paths)
    typer.echo(render_json(reports) if as_json else as_text(reports))

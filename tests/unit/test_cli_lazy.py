"""The ``ewarn`` command mounts its sub-apps lazily: same help, same commands, no heavy import to list them."""

from __future__ import annotations

import subprocess
import sys

import typer.main
from typer.testing import CliRunner

from ewarn.cli import app
from ewarn.cli_lazy import LazySubApp, LazySubAppGroup

runner = CliRunner()


def _lazy_specs() -> list[LazySubApp]:
    cls = app.info.cls
    assert isinstance(cls, type) and issubclass(cls, LazySubAppGroup)
    return list(cls.sub_apps.values())


def test_every_placeholder_shows_its_sub_apps_own_help() -> None:
    specs = _lazy_specs()
    assert {s.name for s in specs} >= {"feeds", "keys", "providers", "export", "aliases"}
    for spec in specs:
        assert spec.load().info.help == spec.help, spec.name


def test_a_lazy_sub_app_resolves_to_its_real_commands() -> None:
    root = typer.main.get_command(app)
    ctx = typer.Context(root)
    keys = root.get_command(ctx, "keys")  # type: ignore[attr-defined]
    assert sorted(keys.commands) == ["create", "list", "revoke", "rotate", "rotate-bootstrap"]
    single = root.get_command(ctx, "advisories")  # type: ignore[attr-defined]
    assert list(single.commands) == ["check"]  # still a group, as add_typer mounts a one-command app


def test_help_lists_every_command_in_order_and_typos_are_still_suggested() -> None:
    listed = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0
    names = [line.split()[1] for line in listed.output.splitlines() if line.startswith("│ ") and "  " in line]
    commands = names[names.index("prune") :]
    assert commands == [
        "prune",
        "serve",
        "run",
        "demo",
        "ingest",
        "feeds",
        "assets",
        "advisories",
        "aliases",
        "secrets",
        "keys",
        "providers",
        "subscriptions",
        "export",
        "db",
        "schemas",
    ]
    assert "API keys: create, list, revoke, rotate." in listed.output
    typo = runner.invoke(app, ["kyes"])
    assert typo.exit_code == 2 and "Did you mean 'keys'?" in typo.output
    sub = runner.invoke(app, ["keys", "create", "--help"], env={"COLUMNS": "200"})
    assert sub.exit_code == 0 and "--role" in sub.output


def test_ewarn_help_imports_no_database_or_api_stack() -> None:
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from ewarn.cli import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "print(' '.join(m for m in ('sqlalchemy', 'fastapi', 'alembic', 'stix2') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""

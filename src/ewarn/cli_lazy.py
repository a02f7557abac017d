"""Sub-apps of the ``ewarn`` command that are imported only when one of their commands runs.

Why: importing every sub-app when ``ewarn`` starts cost about 2.9 s of imports per process (sqlalchemy's
asyncio extension, fastapi through the providers sub-app, alembic, stix2 through the exports sub-app), paid by
``ewarn --help`` and by every ``ewarn serve``/``run``/``keys`` process the tests and deployments start.

The root group lists a placeholder per sub-app (an empty group with the sub-app's one-line help) so that
``ewarn --help`` imports none of them; resolving a command name (running it, its ``--help``, completion)
replaces the placeholder by the real group, built as ``app.add_typer(sub_app, name=...)`` would build it.
A test checks that every placeholder's help is the sub-app's own.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
import typer.main
from typer._click import Command, Context, HelpFormatter  # the click that this typer vendors
from typer.core import TyperGroup


@dataclass(frozen=True)
class LazySubApp:
    """A sub-app mounted as ``name``: its ``typer.Typer`` is ``target`` (``module:attribute``)."""

    name: str
    target: str
    help: str  # what ``ewarn --help`` shows for it; must be the sub-app's own help

    def load(self) -> typer.Typer:
        module_name, attribute = self.target.split(":")
        sub_app = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(sub_app, typer.Typer):
            raise TypeError(f"{self.target} is not a typer.Typer")
        return sub_app


class LazySubAppGroup(TyperGroup):
    """The root group: resolves a lazy sub-app on first use, shows placeholders while it lists its commands."""

    sub_apps: ClassVar[dict[str, LazySubApp]] = {}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._loaded: set[str] = set()
        self._listing = False

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True  # the command table needs each sub-app's one-line help only
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        spec = self.sub_apps.get(cmd_name)
        if spec is not None and not self._listing and cmd_name not in self._loaded:
            holder = typer.Typer()
            holder.add_typer(spec.load(), name=spec.name)
            self.commands[cmd_name] = typer.main.get_group(holder).commands[spec.name]
            self._loaded.add(cmd_name)
        return super().get_command(ctx, cmd_name)


def mount_lazily(app: typer.Typer, sub_apps: Sequence[LazySubApp]) -> None:
    """Mount ``sub_apps`` on ``app`` (in this order, after the sub-apps already mounted) without importing them."""
    specs = {spec.name: spec for spec in sub_apps}
    base = app.info.cls if isinstance(app.info.cls, type) else LazySubAppGroup
    if not issubclass(base, LazySubAppGroup):
        raise TypeError("mount_lazily needs an app without a custom group class")
    app.info.cls = type("EwarnRootGroup", (base,), {"sub_apps": {**base.sub_apps, **specs}})
    for spec in sub_apps:
        app.add_typer(typer.Typer(help=spec.help), name=spec.name)

"""``ewarn providers list|add``: the tenants (hospitals) from the shell, validated as the API validates them."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.cli_support import run_in_session
from ewarn.models.provider import Provider
from ewarn.settings import Settings
from ewarn.store.repositories import audit
from ewarn.store.repositories import principals as repo

app = typer.Typer(help="Providers (tenants): list and add.", no_args_is_help=True)
EXIT_REFUSED = 1


def _say(text: str) -> None:
    """A message for the person at the terminal (standard error; standard output stays machine-readable)."""
    typer.echo(text, err=True)


@app.command("list")
def list_() -> None:
    """One line per provider: id, country, CSIRT, language, name."""

    async def work(session: AsyncSession, _: Settings) -> list[Provider]:
        return await repo.list_providers(session=session, provider_ids=None)

    typer.echo("id\tcountry\tcsirt\tlanguage\tname")
    for p in run_in_session(work):
        typer.echo("\t".join([p.id, p.country, p.csirt_id or "-", p.language, p.name]))


@app.command("add")
def add(
    provider_id: Annotated[str, typer.Option("--id", help="Short id (letters, digits, dashes).")],
    name: Annotated[str, typer.Option()],
    country: Annotated[str, typer.Option(help="ISO 3166 alpha-2 code.")],
    csirt_id: Annotated[str | None, typer.Option()] = None,
    contact: Annotated[list[str] | None, typer.Option(help="A contact address; repeat for more.")] = None,
    language: Annotated[str, typer.Option()] = "en",
) -> None:
    """Add a provider, or update the one with this id."""
    from ewarn.api.routes.providers import ProviderIn  # fastapi: only ``add`` needs the API's body model

    try:
        body = ProviderIn(
            id=provider_id,
            name=name,
            country=country,
            csirt_id=csirt_id,
            contacts=contact or [],
            language=language,
        )
    except ValidationError as exc:
        for problem in exc.errors():
            _say(f"{'.'.join(str(p) for p in problem['loc'])}: {problem['msg']}")
        raise typer.Exit(EXIT_REFUSED) from None

    async def work(session: AsyncSession, _: Settings) -> Provider:
        if body.csirt_id and body.csirt_id not in {c.id for c in await repo.list_csirts(session=session)}:
            raise ValueError(f"unknown CSIRT {body.csirt_id!r}")
        provider = await repo.upsert_provider(session=session, provider=Provider(**body.model_dump()))
        await audit.record_audit(
            session, audit.cli_actor(), "upsert", "provider", [body.id], body, provider_id=body.id
        )
        await session.commit()
        return provider

    try:
        provider = run_in_session(work)
    except ValueError as exc:
        _say(str(exc))
        raise typer.Exit(EXIT_REFUSED) from None
    typer.echo(f"{provider.id}\t{provider.country}\t{provider.csirt_id or '-'}\t{provider.name}")

"""``ewarn subscriptions list``: who is told about what, from the shell (never a signing secret)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.cli_support import run_in_session
from ewarn.models.subscription import Subscription
from ewarn.settings import Settings
from ewarn.store.repositories.subscriptions import list_subscriptions

app = typer.Typer(help="Subscriptions: list.", no_args_is_help=True)


@app.command("list")
def list_(
    provider_id: Annotated[str | None, typer.Option(help="Only this provider's subscriptions.")] = None,
) -> None:
    """One line per subscription: id, provider, channel, target, enabled, digest, format."""

    async def work(session: AsyncSession, _: Settings) -> list[Subscription]:
        wanted = {provider_id} if provider_id else None
        return await list_subscriptions(session=session, provider_ids=wanted)

    typer.echo("id\tprovider\tchannel\ttarget\tenabled\tdigest\tformat")
    for s in run_in_session(work):
        state = "yes" if s.enabled else f"no ({s.disabled_reason or 'disabled'})"
        fields = [s.id, s.provider_id, s.channel.value, s.target, state, s.digest.value, s.payload_format]
        typer.echo("\t".join(fields))

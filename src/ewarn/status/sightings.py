"""The sighting relay on the status page: sightings in, relayed, held back and why (from the database)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.store.repositories.sightings import sighting_counts


class SightingsStatus(BaseModel):
    received: int  # every stored sighting (invalid ones are refused with 422 and never stored)
    relayed: int  # relayed to the sector and on blocklists while live
    held: int  # held back from blocklists by a poisoning guard or TLP:RED
    held_by_reason: dict[str, int]
    last_24h: dict[str, int]  # the same counts over the last 24 hours


def _held(counts: dict[str, int]) -> dict[str, int]:
    return {k.removeprefix("held:"): v for k, v in sorted(counts.items()) if k.startswith("held:")}


async def sightings_status(*, session: AsyncSession, now: datetime) -> SightingsStatus:
    total = await sighting_counts(session=session)
    recent = await sighting_counts(session=session, since=now - timedelta(hours=24))
    return SightingsStatus(
        received=total["received"],
        relayed=total["relayed"],
        held=total["held"],
        held_by_reason=_held(total),
        last_24h={"received": recent["received"], "relayed": recent["relayed"], "held": recent["held"]},
    )

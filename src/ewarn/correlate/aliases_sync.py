"""Operator vendor aliases applied to every running process without a restart.

Choice: an alias change rides the compacted assets topic (``ewarn.assets.v1``) that already makes every
correlator reload, as an ``AssetChange`` whose provider id is ``ALIAS_CHANGE`` (``ewarn:vendor-aliases``, which
no tenant slug can be) and whose id lists are empty. Nothing new to deploy, subscribe or order: Kafka keeps the
newest such record under its key, and a correlator that starts later reads the aliases from the database anyway.

- The writer (API or CLI) commits, applies the aliases in its own process (``apply_from_database``), then
  ``publish_change``.
- Each correlator's reload consumer (every process) sees the record in ``on_reload``: it reads the operator
  aliases from the database and makes them the active layer of ``ewarn.names``; the asset index notices the new
  generation and re-derives every product key before its next lookup or change.
- The retro-hunt consumer (one process of the group) sees it in ``on_retrohunt``: after the same refresh it
  matches every valid vulnerability indicator again, so an alias that makes a device meet an advisory already
  stored raises the alert now, and one that was removed resolves the alerts it alone had raised.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ewarn.bus.base import Bus
from ewarn.bus.topics import Topics
from ewarn.correlate import repository
from ewarn.logging import get_logger
from ewarn.models import AssetChange, Indicator, IndicatorType
from ewarn.models.common import utcnow
from ewarn.names import set_operator_aliases
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.aliases import alias_entries

log = get_logger(__name__)

ALIAS_CHANGE = "ewarn:vendor-aliases"


def is_alias_change(change: AssetChange) -> bool:
    return change.provider_id == ALIAS_CHANGE


async def apply_from_database(sessions: SessionFactory) -> bool:
    """Make the stored operator aliases the active layer; True when they differed from the active ones."""
    async with sessions() as session:
        entries = await alias_entries(session=session)
    changed = set_operator_aliases(entries)
    if changed:
        log.info("vendor_aliases_applied", operator_aliases=len(entries))
    return changed


async def publish_change(*, bus: Bus, topics: Topics) -> None:
    """Tell every correlator that the aliases changed; call after the database commit."""
    change = AssetChange(provider_id=ALIAS_CHANGE, changed_at=utcnow())
    await bus.publish(topics.assets, key=ALIAS_CHANGE, value=change.model_dump_json().encode("utf-8"))


async def changed(*, sessions: SessionFactory, bus: Bus, topics: Topics) -> None:
    """After a committed alias change: apply it here and announce it to every correlator."""
    await apply_from_database(sessions)
    await publish_change(bus=bus, topics=topics)


async def on_reload(change: AssetChange, sessions: SessionFactory) -> bool:
    """The reload consumer's hook: True when the record was an alias change (and is now applied)."""
    if not is_alias_change(change):
        return False
    await apply_from_database(sessions)
    return True


async def on_retrohunt(
    change: AssetChange,
    sessions: SessionFactory,
    handle_indicator: Callable[[Indicator], Awaitable[Any]],
    *,
    batch: int = 1000,
) -> bool:
    """The retro-hunt consumer's hook: after an alias change, match every valid vulnerability indicator again."""
    if not is_alias_change(change):
        return False
    await apply_from_database(sessions)
    count = 0
    async with sessions() as session:
        indicators = [
            indicator
            async for part in repository.valid_indicators(
                session=session, types=[IndicatorType.VULNERABILITY.value], now=utcnow(), batch=batch
            )
            for indicator in part
        ]
    for indicator in indicators:
        await handle_indicator(indicator)
        count += 1
    log.info("vendor_aliases_retro_hunt", indicators=count)
    return True

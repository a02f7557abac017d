"""The correlate stage: indicators in, alert revisions out; inventory changes reload the index and retro-hunt.

Three consumers, each in its own ``StageRunner``:
- indicators (group ``ewarn-correlate``): match against the in-memory index, store revisions, publish;
- asset changes, reload (a group unique to this process): every correlator must reload every change;
- asset changes, retro-hunt (shared group ``ewarn-correlate-retrohunt``): one correlator matches the changed
  assets against the indicators still valid in the database. Retro-hunting in every replica would only
  multiply the same database writes and race on the same revisions.

The indicator runner hands the stage a batch (what is available, up to ``batch_size``): matching for the whole
batch, then one read of stored revisions, one write transaction, one publish and one publish mark for it
(``revisions.RevisionWriter``); the retro-hunt and the expiry sweep commit their alerts the same way.

Poison stays alone: every alert revision is serialised on its own before it is stored or published, and a
stored row that no longer parses is skipped; either goes to the quarantine table with its reason while the
rest of the batch's alerts (other providers' included) flow, and a start-up never fails on one of them. A
record that fails its batch makes the runner handle that batch record by record, so it is dead-lettered alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime

from ewarn.bus.base import Bus, Record
from ewarn.bus.runner import StageRunner
from ewarn.bus.topics import Topics
from ewarn.correlate import aliases_sync, repository, retrohunt
from ewarn.correlate.batch_match import match_many
from ewarn.correlate.containment import out_of_scope
from ewarn.correlate.engine import build_alerts, is_active
from ewarn.correlate.index import AssetIndex
from ewarn.correlate.revisions import RevisionWriter
from ewarn.correlate.stage_settings import (
    CATCH_UP_MARGIN,
    INDICATOR_GROUP,
    RETROHUNT_GROUP,
    CorrelateSettings,
)
from ewarn.inventory.scope import all_approved_scopes, approved_scopes, scope_refusal
from ewarn.logging import get_logger
from ewarn.models import Alert, Asset, AssetChange, Indicator, IndicatorType
from ewarn.models.common import utcnow
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.quarantine import Quarantined, quarantine

log = get_logger(__name__)

__all__ = ["CATCH_UP_MARGIN", "INDICATOR_GROUP", "RETROHUNT_GROUP", "CorrelateSettings", "CorrelateWorker"]


class CorrelateWorker:
    """Correlates indicators with every provider's assets and keeps their alerts' revisions."""

    def __init__(
        self,
        bus: Bus,
        sessions: SessionFactory,
        topics: Topics,
        settings: CorrelateSettings | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._bus = bus
        self._sessions = sessions
        self._topics = topics
        self._settings = settings or CorrelateSettings()
        self._clock = clock
        self.index = AssetIndex()
        self._runners: list[StageRunner] = []
        self._stopping = False
        self._stopped = asyncio.Event()
        self._writer = RevisionWriter(
            bus=bus, sessions=sessions, alerts_topic=topics.alerts, quarantine=self._quarantine, clock=clock
        )
        self.expired_resolved = 0
        self.quarantined = 0

    # --- lifecycle -----------------------------------------------------------------------------------------

    async def load_assets(self) -> int:
        """Build the index from every live asset in the database; returns how many were loaded."""
        await aliases_sync.apply_from_database(self._sessions)
        fresh = AssetIndex()
        provider, count = "", 0
        batch: list[Asset] = []
        bad: list[Quarantined] = []
        async with self._sessions() as session:
            approvals = await all_approved_scopes(session=session)
            # rows come ordered by provider: hold one provider's assets at a time, not a million models
            async for asset in repository.live_assets(session=session, bad=bad):
                if not self._in_scope(asset, approvals.get(asset.provider_id, ()), bad):
                    continue
                if asset.provider_id != provider and batch:
                    fresh.replace_provider(provider, batch)
                    batch = []
                provider = asset.provider_id
                batch.append(asset)
                count += 1
        if batch:
            fresh.replace_provider(provider, batch)
        self.index = fresh
        await self._quarantine(bad)
        log.info("correlate_index_loaded", assets=count, providers=fresh.provider_count, skipped=len(bad))
        return count

    async def republish_pending(self) -> list[Alert]:
        """Publish revisions stored before a crash but never acknowledged by the bus; returns the published.

        A pending revision that cannot be read or serialised is quarantined, and the others still go out.
        """
        bad: list[Quarantined] = []
        async with self._sessions() as session:
            pending = await repository.unpublished_alerts(session=session, bad=bad)
        await self._quarantine(bad)
        encoded = await self._writer.encode(pending, why="pending alert cannot be published")
        await self._writer.publish(encoded)
        return [alert for alert, _ in encoded]

    async def run(self) -> None:
        """Load the index, flush the outbox, then consume until ``stop()``."""
        await self.load_assets()
        await self.republish_pending()
        s = self._settings
        self._runners = [
            self._runner(
                [self._topics.indicators],
                s.indicator_group,
                "correlate",
                self._on_indicator,
                batch_handler=self._on_indicators,
            ),
            self._runner([self._topics.assets], s.reload_group, "correlate-reload", self._on_reload),
            self._runner([self._topics.assets], s.retrohunt_group, "correlate-retrohunt", self._on_retrohunt),
        ]
        if self._stopping:
            return
        await asyncio.gather(*(r.run() for r in self._runners), self._sweep_forever())

    async def sweep_expired(self) -> list[Alert]:
        """Resolve the open alerts of every indicator whose validity has ended; returns the revisions."""
        bad: list[Quarantined] = []
        async with self._sessions() as session:
            expired = await repository.expired_with_open_alerts(session=session, now=self._clock(), bad=bad)
        await self._quarantine(bad)
        published = await self.handle_indicators(expired)
        self.expired_resolved += len(published)
        return published

    async def _sweep_forever(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._settings.expiry_sweep_seconds)
            if self._stopping:
                return
            try:
                await self.sweep_expired()
            except Exception as exc:  # the next sweep retries; consuming must go on meanwhile
                log.warning("expiry_sweep_failed", error=f"{type(exc).__name__}: {exc}")

    def stats(self) -> dict[str, int]:
        """Counters for the heartbeat: records handled by the runners and the size of the index."""
        return {
            "processed": sum(r.stats.processed for r in self._runners),
            "dead_lettered": sum(r.stats.dead_lettered for r in self._runners),
            "retries": sum(r.stats.retries for r in self._runners),
            "assets_indexed": len(self.index),
            "providers_indexed": self.index.provider_count,
            "expired_resolved": self.expired_resolved,
            "quarantined": self.quarantined,
        }

    def stop(self) -> None:
        """Ask every runner to finish its batch, commit and return."""
        self._stopping = True
        self._stopped.set()
        for runner in self._runners:
            runner.stop()

    def _runner(
        self,
        topics: list[str],
        group: str,
        stage: str,
        handler: Callable[[Record], Awaitable[None]],
        *,
        batch_handler: Callable[[Sequence[Record]], Awaitable[None]] | None = None,
    ) -> StageRunner:
        return StageRunner(
            bus=self._bus,
            topics=topics,
            group=group,
            stage=stage,
            handler=handler,
            dlq_topic=self._topics.dlq,
            batch_size=self._settings.batch_size,
            batch_handler=batch_handler,
        )

    async def _on_indicator(self, record: Record) -> None:
        await self.handle_indicators([Indicator.model_validate_json(record.value)])

    async def _on_indicators(self, records: Sequence[Record]) -> None:
        await self.handle_indicators([Indicator.model_validate_json(r.value) for r in records])

    async def _on_reload(self, record: Record) -> None:
        change = AssetChange.model_validate_json(record.value)
        if not await aliases_sync.on_reload(change, self._sessions):
            await self.reload_provider(change.provider_id)
            if change.changed_asset_ids:
                await self.catch_up(change)

    async def _on_retrohunt(self, record: Record) -> None:
        change = AssetChange.model_validate_json(record.value)
        if not await aliases_sync.on_retrohunt(change, self._sessions, self.handle_indicator):
            await self.retro_hunt(change)

    # --- indicators ----------------------------------------------------------------------------------------

    async def handle_indicator(self, indicator: Indicator) -> list[Alert]:
        """Match one indicator; store and publish the revisions it causes. Returns what was published."""
        return await self.handle_indicators([indicator])

    async def handle_indicators(self, indicators: Sequence[Indicator]) -> list[Alert]:
        """Match a batch of indicators; store and publish the revisions they cause, once per batch.

        An indicator key that comes again in the batch waits for the next round (its first record's revisions
        are stored first), so each key's records still apply in order. Returns what was published.
        """
        published: list[Alert] = []
        for round_ in _rounds(indicators):
            published += await self._handle_round(round_)
        return published

    async def _handle_round(self, indicators: Sequence[Indicator]) -> list[Alert]:
        now = self._clock()
        candidates: list[Alert] = []
        # indicator key -> why its open alerts that no longer match are resolved
        closing_why: dict[str, str] = {}
        active: list[Indicator] = []
        for indicator in indicators:
            if is_active(indicator, now):
                active.append(indicator)
            else:
                revoked = "the source revoked the indicator" if indicator.revoked else "the indicator expired"
                closing_why[indicator.key] = revoked
        # the index's pre-check answers the indicators that hit nothing (most of a feed) without matching them
        for indicator, found in zip(active, match_many(active, self.index), strict=True):
            candidates += build_alerts(indicator, found, now=now, playbooks=self._settings.playbooks)
            if indicator.type is IndicatorType.VULNERABILITY:
                # an updated advisory can mark versions fixed or not affected: close what no longer matches
                closing_why[indicator.key] = "the advisory no longer lists this version as affected"
        closing: list[tuple[str, str]] = []
        if closing_why:
            bad: list[Quarantined] = []
            async with self._sessions() as session:
                open_ = await repository.open_alerts(
                    session=session, indicator_keys=sorted(closing_why), bad=bad
                )
            await self._quarantine(bad)
            matched = {c.id for c in candidates}
            closing = [(a.id, closing_why[a.indicator_key]) for a in open_ if a.id not in matched]
        return await self._writer.commit(candidates, closing, now=now)

    def _in_scope(self, asset: Asset, approved: Collection[tuple[str, str]], bad: list[Quarantined]) -> bool:
        """False (and the asset set aside) when it is wider than the scope rules allow without approval."""
        refused = out_of_scope(asset, self._settings.scope, approved)
        if refused is not None:
            bad.append(refused)
        return refused is None

    async def _scoped(self, provider_id: str, assets: list[Asset], bad: list[Quarantined]) -> list[Asset]:
        """``assets`` of one provider within the scope rules or its approvals."""
        if all(scope_refusal(a, self._settings.scope, ()) is None for a in assets):
            return assets
        async with self._sessions() as session:
            approved = await approved_scopes(session=session, provider_id=provider_id)
        return [a for a in assets if self._in_scope(a, approved, bad)]

    async def _quarantine(self, records: Sequence[Quarantined]) -> None:
        """Set records aside with their reason (own transaction), so the rest of the batch flows."""
        if not records:
            return
        async with self._sessions() as session, session.begin():
            await quarantine(session=session, records=records, now=self._clock())
        self.quarantined += len(records)
        for record in records:
            log.error(
                "record_quarantined",
                stage=record.stage,
                kind=record.kind,
                key=record.key,
                provider_id=record.provider_id,
                reason=record.reason[:500],
            )

    # --- inventory changes ---------------------------------------------------------------------------------

    async def reload_provider(self, provider_id: str) -> int:
        """Replace one provider's assets in this process's index with what the database holds now."""
        bad: list[Quarantined] = []
        async with self._sessions() as session:
            assets = await repository.provider_live_assets(session=session, provider_id=provider_id, bad=bad)
        assets = await self._scoped(provider_id, assets, bad)
        await self._quarantine(bad)
        self.index.replace_provider(provider_id, assets)
        return len(assets)

    async def catch_up(self, change: AssetChange) -> list[Alert]:
        """Indicators stored since ``change``, matched against its assets once this process has reloaded them.

        Until this process reloads, an indicator it matches misses the new assets, and the retro-hunt (run by
        one process at its own time) may have read the indicators before that one was stored: matching what
        was stored since the change closes the gap. Alert ids and revisions make a repeat change nothing.
        """
        return await self.retro_hunt(change, seen_since=change.changed_at - CATCH_UP_MARGIN)

    async def retro_hunt(self, change: AssetChange, *, seen_since: datetime | None = None) -> list[Alert]:
        """Match changed assets against valid indicators; resolve alerts of removed or cleared assets.

        With ``seen_since`` only indicators stored since then are matched, and nothing is resolved.
        """
        now = self._clock()
        bad: list[Quarantined] = []
        async with self._sessions() as session:
            assets = await repository.assets_by_id(
                session=session, provider_id=change.provider_id, ids=change.changed_asset_ids, bad=bad
            )
            touched = [*change.changed_asset_ids, *change.removed_asset_ids]
            open_ = await repository.open_alerts(
                session=session, provider_id=change.provider_id, asset_ids=touched, bad=bad
            )
        assets = await self._scoped(change.provider_id, assets, bad)
        if assets:
            # an SBOM component inherits its device's criticality: index the parents beside the components
            parent_ids = {a.parent_id for a in assets if a.parent_id} - {a.id for a in assets}
            async with self._sessions() as session:
                parents = await repository.assets_by_id(
                    session=session, provider_id=change.provider_id, ids=sorted(parent_ids), bad=bad
                )
                candidates = await retrohunt.hunt(
                    session=session,
                    assets=assets,
                    parents=parents,
                    now=now,
                    batch=self._settings.retrohunt_batch,
                    bad=bad,
                    seen_since=seen_since,
                    playbooks=self._settings.playbooks,
                )
        else:
            candidates = []
        await self._quarantine(bad)
        if seen_since is not None:
            return await self._writer.commit(candidates, now=now)
        out = await self._writer.commit(candidates, retrohunt.closing(change, open_, candidates), now=now)
        log.info("retro_hunt", provider_id=change.provider_id, assets=len(assets), published=len(out))
        return out


def _rounds(indicators: Sequence[Indicator]) -> list[list[Indicator]]:
    """The batch in rounds where no indicator key comes twice; a key's n-th record goes to round n."""
    rounds: list[list[Indicator]] = []
    seen: dict[str, int] = {}
    for indicator in indicators:
        n = seen.get(indicator.key, 0)
        seen[indicator.key] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(indicator)
    return rounds

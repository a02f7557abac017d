"""The background pruner: one pass every ``retention.interval_seconds`` in the process running dispatch."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.ext.asyncio import AsyncEngine

from ewarn.logging import get_logger
from ewarn.retention.prune import PruneReport, prune_once
from ewarn.settings import RetentionSettings

log = get_logger(__name__)


class RetentionWorker:
    """Prunes at start and then every interval until stopped; a failed pass is logged and retried next time."""

    def __init__(self, *, engine: AsyncEngine, settings: RetentionSettings) -> None:
        self._engine = engine
        self._settings = settings
        self._stop = asyncio.Event()
        self.last: PruneReport | None = None

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.last = await prune_once(engine=self._engine, settings=self._settings)
                if not self.last.skipped:
                    log.info("retention_pass", pruned=self.last.pruned, seconds=self.last.seconds)
            except Exception as exc:  # pruning is housekeeping: it must never stop the role beside it
                log.warning("retention_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._settings.interval_seconds)

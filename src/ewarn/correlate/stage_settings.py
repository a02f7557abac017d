"""Knobs of the correlate stage and the consumer groups its runners join."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from ewarn.actions.playbooks import PlaybookRule
from ewarn.settings import AssetScopeSettings

INDICATOR_GROUP = "ewarn-correlate"
RETROHUNT_GROUP = "ewarn-correlate-retrohunt"
# How far before an inventory change a reload looks back for stored indicators: covers an ingest that stamped
# an indicator just before the change and stored it just after (clock skew between processes included).
CATCH_UP_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True)
class CorrelateSettings:
    """Knobs of the correlate stage (the lead may nest these in ``Settings``)."""

    indicator_group: str = INDICATOR_GROUP
    retrohunt_group: str = RETROHUNT_GROUP
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    batch_size: int = 500
    retrohunt_batch: int = 1000
    # Expiry produces no message, so a sweep finds indicators whose valid_until passed with alerts open.
    expiry_sweep_seconds: float = 60.0
    # Assets wider than these rules (stored before them, or straight into the database) are not indexed.
    scope: AssetScopeSettings = field(default_factory=AssetScopeSettings)
    playbooks: tuple[PlaybookRule, ...] = ()  # the operator's response playbooks, linked from each alert

    @property
    def reload_group(self) -> str:
        return f"ewarn-correlate-reload-{self.instance_id}"

"""Topic names and their configuration."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    """Topic names under one prefix (tests use a unique prefix per run)."""

    prefix: str = "ewarn"

    @property
    def indicators(self) -> str:
        return f"{self.prefix}.indicators.v1"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}.alerts.v1"

    @property
    def assets(self) -> str:
        return f"{self.prefix}.assets.v1"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dlq.v1"

    def all(self) -> list[str]:
        return [self.indicators, self.alerts, self.assets, self.dlq]

    def is_compacted(self, topic: str) -> bool:
        return topic == self.assets

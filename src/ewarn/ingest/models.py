"""API and service contracts of the ingest stage: feeds, their health, and what one ingest did."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ewarn.models.common import TLP, UtcDatetime
from ewarn.models.indicator import Rejection


class IngestReport(BaseModel):
    """What one ingest (a push, a file, or a poll of a feed) read, kept, rejected and published."""

    feed_id: str
    kind: str
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    published: int = 0
    pages: int = 0
    error: str | None = None
    rejections: list[Rejection] = Field(default_factory=list)
    skipped: int = Field(default=0, description="records left out on purpose (see counts for why)")
    counts: dict[str, int] = Field(
        default_factory=dict, description="records skipped or noted, by reason (e.g. MISP context attributes)"
    )


class FeedIn(BaseModel):
    """A feed as an operator creates it. ``credentials`` are write-only: stored, never returned or logged."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    kind: str
    name: str = ""
    location: str = Field(min_length=1, max_length=4096)
    config: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, Any] = Field(default_factory=dict, repr=False)
    interval_seconds: int = Field(default=3600, ge=10, le=7 * 24 * 3600)
    default_tlp: TLP = TLP.CLEAR
    enabled: bool = True

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        from ewarn.ingest.sources import KINDS

        if value not in KINDS:
            raise ValueError(f"unknown feed kind; known: {', '.join(KINDS)}")
        return value


class FeedPatch(BaseModel):
    """A partial update; ``credentials`` replaces the stored ones when given."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    location: str | None = Field(default=None, min_length=1, max_length=4096)
    config: dict[str, Any] | None = None
    credentials: dict[str, Any] | None = Field(default=None, repr=False)
    interval_seconds: int | None = Field(default=None, ge=10, le=7 * 24 * 3600)
    default_tlp: TLP | None = None
    enabled: bool | None = None


class Feed(BaseModel):
    """A feed as the API shows it: never its credentials, only whether it has some."""

    id: str
    kind: str
    name: str
    location: str
    config: dict[str, Any]
    has_credentials: bool
    interval_seconds: int
    default_tlp: TLP
    enabled: bool
    cursor: dict[str, Any]
    created_at: UtcDatetime


class FeedHealth(BaseModel):
    """How a feed is doing: when it last worked, its last error, totals and how far behind it is."""

    feed_id: str
    kind: str
    enabled: bool
    last_polled_at: UtcDatetime | None
    last_success_at: UtcDatetime | None
    last_error: str | None
    last_error_at: UtcDatetime | None
    accepted_total: int
    rejected_total: int
    skipped_total: int = Field(
        default=0, description="records left out on purpose since the feed was created"
    )
    counts: dict[str, int] = Field(
        default_factory=dict, description="records skipped or noted since the feed was created, by reason"
    )
    interval_seconds: int
    lag_seconds: float | None = Field(description="seconds since the last successful poll")
    overdue: bool = Field(description="no success within two intervals (or never)")

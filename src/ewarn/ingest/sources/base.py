"""The contract every feed kind implements: read a feed from its cursor, yield pages."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ewarn.ingest.fetch import Fetcher
from ewarn.ingest.records import FeedContext, ParseResult
from ewarn.models.common import TLP
from ewarn.models.indicator import Indicator, Rejection


@dataclass(frozen=True)
class FeedSpec:
    """A feed as a source sees it: where to read, how, and where it stopped last time."""

    id: str
    kind: str
    location: str
    name: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, Any] = field(default_factory=dict)
    default_tlp: TLP = TLP.CLEAR
    cursor: dict[str, Any] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None

    def context(self) -> FeedContext:
        return FeedContext(feed_id=self.id, feed_kind=self.kind, default_tlp=self.default_tlp)


@dataclass
class Page:
    """What one step of a poll produced, and the cursor that holds once it is stored and published.

    ``cursor`` None keeps the stored cursor; ``etag``/``last_modified`` None keep the stored validators.
    """

    indicators: list[Indicator] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    read: int = 0
    cursor: dict[str, Any] | None = None
    etag: str | None = None
    last_modified: str | None = None
    skipped: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # skipped/noted records by reason
    sightings: list[dict[str, Any]] = field(default_factory=list)  # STIX sightings for the relay

    @classmethod
    def of(cls, parsed: ParseResult, **state: Any) -> Page:
        parsed.contain_unstorable()  # a record whose text cannot be stored is refused, not the whole page
        return cls(
            indicators=parsed.indicators,
            rejections=parsed.rejections,
            read=parsed.read,
            skipped=parsed.skipped,
            counts=Counter(parsed.counts),
            sightings=parsed.sightings,
            **state,
        )


@dataclass(frozen=True)
class SourceContext:
    """What sources may use: the shared fetcher (HTTP policy) and limits."""

    fetcher: Fetcher
    request_timeout: float = 30.0


class Source(Protocol):
    """One feed kind. ``pages`` must be restartable from ``feed.cursor``."""

    @property
    def kind(self) -> str: ...

    def pages(self, feed: FeedSpec, ctx: SourceContext) -> AsyncIterator[Page]: ...


class PayloadSource(Protocol):
    """A kind whose single documents can also be pushed or read whole (``ingest_bytes``)."""

    @property
    def kind(self) -> str: ...

    def parse(self, payload: bytes, ctx: FeedContext) -> ParseResult: ...

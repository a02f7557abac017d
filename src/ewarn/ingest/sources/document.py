"""Sources that read one whole document per poll (a bundle, a list, a catalogue)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from ewarn.ingest.records import FeedContext, ParseResult
from ewarn.ingest.sources.base import FeedSpec, Page, SourceContext


@dataclass(frozen=True)
class DocumentSource:
    """Fetch ``feed.location`` conditionally; unchanged content (304 or same digest) yields an empty page."""

    kind: str
    parser: Callable[[bytes, FeedSpec, FeedContext], ParseResult]
    accept: str | None = None

    def parse(self, payload: bytes, ctx: FeedContext) -> ParseResult:
        feed = FeedSpec(id=ctx.feed_id, kind=self.kind, location="", default_tlp=ctx.default_tlp)
        return self.parser(payload, feed, ctx)

    async def pages(self, feed: FeedSpec, ctx: SourceContext) -> AsyncIterator[Page]:
        fetched = await ctx.fetcher.get(
            feed.location,
            etag=feed.etag,
            last_modified=feed.last_modified,
            credentials=feed.credentials,
            accept=self.accept,
        )
        if fetched.not_modified:
            yield Page()
            return
        digest = hashlib.sha256(fetched.content).hexdigest()
        if feed.cursor.get("sha256") == digest:
            yield Page(etag=fetched.etag, last_modified=fetched.last_modified)
            return
        parsed = self.parser(fetched.content, feed, feed.context())
        yield Page.of(
            parsed,
            cursor={**feed.cursor, "sha256": digest},
            etag=fetched.etag,
            last_modified=fetched.last_modified,
        )

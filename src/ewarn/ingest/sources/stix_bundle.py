"""STIX 2.0/2.1 bundles from a file or URL."""

from __future__ import annotations

from ewarn.ingest.records import FeedContext, ParseResult
from ewarn.ingest.sources import register
from ewarn.ingest.sources.base import FeedSpec
from ewarn.ingest.sources.document import DocumentSource
from ewarn.ingest.stix import parse_bundle


def _parse(payload: bytes, _feed: FeedSpec, ctx: FeedContext) -> ParseResult:
    return parse_bundle(payload, ctx)


SOURCE = register(DocumentSource(kind="stix_bundle", parser=_parse, accept="application/json"))

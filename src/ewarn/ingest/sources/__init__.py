"""Feed kinds. Each module registers its source; a new kind is a new module listed in ``KINDS``."""

from __future__ import annotations

import importlib

from ewarn.errors import ConfigurationError
from ewarn.ingest.sources.base import FeedSpec, Page, PayloadSource, Source, SourceContext

KINDS = ("stix_bundle", "taxii", "ioc_list", "misp", "kev", "csaf", "cve5")

_REGISTRY: dict[str, Source] = {}


def register(source: Source) -> Source:
    """Make ``source`` the handler of its kind."""
    _REGISTRY[source.kind] = source
    return source


def source_for(kind: str) -> Source:
    """The registered source of ``kind``; ``ConfigurationError`` for an unknown kind."""
    if kind not in _REGISTRY and kind in KINDS:
        importlib.import_module(f"{__name__}.{kind}")
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ConfigurationError(f"unknown feed kind {kind!r}; known: {', '.join(KINDS)}") from None


def payload_parser(kind: str) -> PayloadSource:
    """The source of ``kind`` when it can parse one pushed document."""
    source = source_for(kind)
    if not hasattr(source, "parse"):
        raise ConfigurationError(f"feed kind {kind!r} cannot ingest a single document")
    return source  # type: ignore[return-value]


__all__ = ["KINDS", "FeedSpec", "Page", "Source", "SourceContext", "payload_parser", "register", "source_for"]

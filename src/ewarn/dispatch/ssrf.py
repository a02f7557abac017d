"""SSRF guard for webhook targets: the shared outbound guard of ``ewarn.netguard`` (feeds use it too)."""

from __future__ import annotations

from ewarn.netguard import (
    METADATA_ADDRESSES,
    IPAddress,
    IPNetwork,
    PinnedTarget,
    ResolutionFailed,
    Resolver,
    SsrfGuard,
    SsrfRefused,
    StaticResolver,
    SystemResolver,
    forbidden_reason,
    parse_networks,
)

__all__ = [
    "METADATA_ADDRESSES",
    "IPAddress",
    "IPNetwork",
    "PinnedTarget",
    "ResolutionFailed",
    "Resolver",
    "SsrfGuard",
    "SsrfRefused",
    "StaticResolver",
    "SystemResolver",
    "forbidden_reason",
    "parse_networks",
]

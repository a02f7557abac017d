"""Matching a batch of indicators: the index's pre-check answers the misses, ``match`` the few candidates.

Same results as ``match`` on each indicator (a property test compares them on generated data), for less CPU:
nearly every indicator of a feed hits no asset, and ``AssetIndex.candidates`` says so with the table probes
alone. Measured with ``bench/correlate_bench.py`` (figures in the lead's report for issue 12).
"""

from __future__ import annotations

from collections.abc import Sequence

from ewarn.correlate.index import AssetIndex
from ewarn.correlate.matches import Match
from ewarn.correlate.matching import match
from ewarn.models import Indicator


def match_many(indicators: Sequence[Indicator], index: AssetIndex) -> list[list[Match]]:
    """``match(indicator, index)`` for each indicator, in order."""
    out: list[list[Match]] = [[] for _ in indicators]
    for i in index.candidates(indicators):
        out[i] = match(indicators[i], index)
    return out

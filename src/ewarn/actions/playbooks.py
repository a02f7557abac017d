"""The operator's response playbooks: one link per alert kind and severity (settings ``correlate.playbooks``).

The first rule whose kinds and severities include the alert's wins, so operators list specific rules before
general ones: ``[{"kinds": ["vulnerability"], "min_severity": "critical", "url": …}, {"url": …}]``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field, HttpUrl

from ewarn.models.alert import PlaybookLink, Severity
from ewarn.models.indicator import IndicatorType


class PlaybookRule(BaseModel):
    """Link ``url`` for alerts of these indicator kinds (empty: all) at or above ``min_severity``."""

    url: HttpUrl
    title: str | None = Field(default=None, max_length=200)
    kinds: list[IndicatorType] = Field(default_factory=list)
    min_severity: Severity = Severity.INFO
    max_severity: Severity = Severity.CRITICAL


def playbook_for(
    rules: Sequence[PlaybookRule], kind: IndicatorType, severity: Severity
) -> PlaybookLink | None:
    """The first rule that covers ``kind`` and ``severity``, as the alert's link; None when none does."""
    for rule in rules:
        if rule.kinds and kind not in rule.kinds:
            continue
        if rule.min_severity.rank <= severity.rank <= rule.max_severity.rank:
            return PlaybookLink(url=str(rule.url), title=rule.title)
    return None

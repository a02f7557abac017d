"""The suppressed-match counter is labelled by rule kind from the metrics' own list, which names every scope."""

from __future__ import annotations

from ewarn.correlate import suppression
from ewarn.models.workflow import SuppressionScope
from ewarn.status.metrics import ALERTS_SUPPRESSED, SUPPRESSION_RULE_KINDS


def test_every_rule_scope_has_a_pre_created_suppressed_series() -> None:
    assert set(SUPPRESSION_RULE_KINDS) == {scope.value for scope in SuppressionScope}
    assert (
        SuppressionScope.ASSET_INDICATOR.value,
        SuppressionScope.PRODUCT_CVE.value,
    ) == (suppression.ASSET_RULE, suppression.PRODUCT_RULE)
    series = {s.labels["rule"] for metric in ALERTS_SUPPRESSED.collect() for s in metric.samples}
    assert {suppression.ASSET_RULE, suppression.PRODUCT_RULE} <= series

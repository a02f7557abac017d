"""Suppression rules applied to fresh matches: a provider's false-positive verdict, made reusable.

A rule names either an asset and an indicator, or a vendor/product (optionally one version) and a CVE. A
candidate alert a rule covers is neither stored nor published; it is counted on the rule (``hits``,
``last_hit_at``), in the correlator's ``suppressed`` counter and in the log with the rule and its reason —
never dropped in silence. Rules expire; an expired or deleted rule suppresses nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter as PromCounter

from ewarn.correlate import repository
from ewarn.logging import get_logger
from ewarn.models import Alert, Asset
from ewarn.models.workflow import SuppressionRule
from ewarn.status.metrics import REGISTRY
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.suppressions import active_rules, add_hits

log = get_logger(__name__)

SUPPRESSED = PromCounter(
    "ewarn_alerts_suppressed_total",
    "Matches a suppression rule kept from becoming an alert revision, by the rule's kind",
    ["rule"],
    registry=REGISTRY,
)


@dataclass(frozen=True)
class Suppressed:
    alert: Alert
    rule_id: str
    reason: str
    asset_rule: bool


def _fold(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def covers(rule: SuppressionRule, alert: Alert, asset: Asset | None) -> bool:
    """Whether ``rule`` suppresses ``alert`` (``asset``: the matched asset, needed by product rules)."""
    if rule.provider_id != alert.provider_id:
        return False
    if rule.asset_id is not None:
        return rule.asset_id == alert.asset_id and rule.indicator_key == alert.indicator_key
    if rule.cve is None or rule.cve.upper() not in {c.upper() for c in alert.cves}:
        return False
    if (
        asset is None
        or _fold(asset.vendor) != _fold(rule.vendor)
        or _fold(asset.product) != _fold(rule.product)
    ):
        return False
    return rule.version is None or _fold(asset.version) == _fold(rule.version)


def split(
    candidates: Sequence[Alert], rules: Sequence[SuppressionRule], assets: dict[str, Asset]
) -> tuple[list[Alert], list[Suppressed]]:
    """(the candidates no rule covers, the suppressed ones with the rule that covered each)."""
    kept: list[Alert] = []
    suppressed: list[Suppressed] = []
    for alert in candidates:
        rule = next((r for r in rules if covers(r, alert, assets.get(alert.asset_id))), None)
        if rule is None:
            kept.append(alert)
        else:
            suppressed.append(Suppressed(alert, rule.id, rule.reason, rule.asset_id is not None))
    return kept, suppressed


async def apply_suppressions(
    sessions: SessionFactory, candidates: Sequence[Alert], *, now: datetime
) -> tuple[list[Alert], list[Suppressed]]:
    """Filter ``candidates`` through the rules in force and count what they suppress (own transaction)."""
    if not candidates:
        return [], []
    providers = {c.provider_id for c in candidates}
    async with sessions() as session:
        rules = await active_rules(session=session, provider_ids=providers, now=now)
        if not rules:
            return list(candidates), []
        assets: dict[str, Asset] = {}
        cves = {r.cve.upper() for r in rules if r.cve}
        for provider in providers:
            wanted = sorted(
                {
                    c.asset_id
                    for c in candidates
                    if c.provider_id == provider and cves & {x.upper() for x in c.cves}
                }
            )
            if wanted:
                found = await repository.assets_by_id(session=session, provider_id=provider, ids=wanted)
                assets.update({a.id: a for a in found})
    kept, suppressed = split(candidates, rules, assets)
    if suppressed:
        async with sessions() as session, session.begin():
            await add_hits(session=session, hits=Counter(s.rule_id for s in suppressed), now=now)
        for s in suppressed:
            SUPPRESSED.labels(rule="asset_indicator" if s.asset_rule else "product_cve").inc()
            log.info(
                "match_suppressed",
                alert_id=s.alert.id,
                provider_id=s.alert.provider_id,
                rule_id=s.rule_id,
                reason=s.reason[:300],
            )
    return kept, suppressed

"""The alert workflow's contracts: transitions and their history, deadlines, suppression rules, response times."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from ewarn.models.alert import AlertStatus, Severity
from ewarn.models.common import FREE_TEXT, ONE_LINE, Contract, UtcDatetime, text_limits

Comment = Annotated[str, text_limits(2000, min_length=1, free_text=True), FREE_TEXT]
RuleText = Annotated[str, text_limits(255, min_length=1), ONE_LINE]


class Transition(Contract):
    """One change of an alert's workflow state: who, when, from what to what, and why."""

    alert_id: str
    revision: int = Field(description="The alert revision the change was made on")
    from_status: AlertStatus
    to_status: AlertStatus
    actor: str = Field(description="The API key id, 'system' (a material revision) or 'cli:<user>'")
    actor_role: str
    actor_name: str = ""
    comment: str | None = None
    at: UtcDatetime


class AlertHistory(Contract):
    alert_id: str
    status: AlertStatus
    transitions: list[Transition]


class SuppressionScope(StrEnum):
    ASSET_INDICATOR = "asset_indicator"  # this asset, this indicator
    PRODUCT_CVE = "product_cve"  # this vendor/product (and version), this CVE


class SuppressionProposal(Contract):
    """A rule proposed with a false-positive verdict: what to suppress from now on, and until when."""

    scope: SuppressionScope = SuppressionScope.ASSET_INDICATOR
    cve: RuleText | None = Field(default=None, description="product_cve: the CVE (default: the alert's)")
    version: RuleText | None = Field(
        default=None, description="product_cve: only this version (default: every version of the product)"
    )
    expires_at: UtcDatetime | None = Field(default=None, description="None: until deleted")


class StatusChange(Contract):
    """The body of ``POST /alerts/{id}/status``: the new state, an optional comment and rule proposal."""

    status: AlertStatus
    comment: Comment | None = None
    suppress: SuppressionProposal | None = Field(
        default=None, description="Only with status false_positive: turn the verdict into a suppression rule"
    )


class SuppressionRuleIn(Contract):
    """A rule: either asset_id + indicator_key, or vendor + product (+ version) + cve."""

    provider_id: RuleText
    asset_id: RuleText | None = None
    indicator_key: Annotated[str, text_limits(1024, min_length=1), ONE_LINE] | None = None
    vendor: RuleText | None = None
    product: RuleText | None = None
    version: RuleText | None = None
    cve: RuleText | None = None
    reason: Comment
    expires_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> SuppressionRuleIn:
        by_asset = self.asset_id is not None and self.indicator_key is not None
        by_product = self.vendor is not None and self.product is not None and self.cve is not None
        if by_asset == by_product:
            raise ValueError(
                "a rule names either asset_id and indicator_key, or vendor, product (optionally version) and cve"
            )
        if by_asset and any(v is not None for v in (self.vendor, self.product, self.version, self.cve)):
            raise ValueError("an asset rule names no vendor, product, version or cve")
        if by_product and (self.asset_id is not None or self.indicator_key is not None):
            raise ValueError("a product rule names no asset_id or indicator_key")
        return self


class SuppressionRuleUpdate(Contract):
    reason: Comment | None = None
    expires_at: UtcDatetime | None = None


class SuppressionRule(SuppressionRuleIn):
    id: str
    created_by: str
    created_at: UtcDatetime
    source_alert_id: str | None = None
    hits: int = Field(default=0, description="Matches suppressed by this rule so far")
    last_hit_at: UtcDatetime | None = None
    active: bool = Field(description="False once expired")


class OverdueAlert(Contract):
    alert_id: str
    provider_id: str
    severity: Severity
    status: AlertStatus
    raised_at: UtcDatetime
    due: str = Field(description="acknowledge or resolve")
    due_at: UtcDatetime
    overdue_seconds: float


class ResponseTimes(Contract):
    """Seconds from an alert being raised to its acknowledgement / resolution, per provider."""

    provider_id: str
    alerts: int
    acknowledged: int
    resolved: int
    acknowledge_p50_seconds: float | None = None
    acknowledge_p90_seconds: float | None = None
    resolve_p50_seconds: float | None = None
    resolve_p90_seconds: float | None = None
    open_overdue: int = 0


class ResponseTimeReport(Contract):
    since: UtcDatetime
    until: UtcDatetime
    providers: list[ResponseTimes]

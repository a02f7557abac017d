"""Which workflow transitions are allowed, and which alert revisions are material enough to reopen an alert.

Pure: plain data in, decisions out. The states:

    new → acknowledged → in_progress → resolved
      ↘ (any open state) → false_positive | accepted_risk | resolved
    resolved | false_positive | accepted_risk → acknowledged (reopened by the provider)

A new revision of an alert keeps its state unless the change is **material**:

- the severity rose (``high → critical``);
- a CVE that hits the asset is newly known exploited (CISA KEV);
- a new asset match: the asset now matches through another field or range, or a "possibly affected" match
  is confirmed affected;
- a resolved alert matches again.

A material revision puts the alert back to ``new`` with a fresh ``raised_at``, so its deadlines start over.
A false-positive verdict says the match does not apply: only a new asset match reopens it (the severity or the
exploitation of something that does not apply changes nothing).
"""

from __future__ import annotations

from datetime import datetime

from ewarn.models.alert import Alert, AlertStatus

S = AlertStatus
OPEN = frozenset({S.NEW, S.ACKNOWLEDGED, S.IN_PROGRESS})
CLOSED = frozenset({S.RESOLVED, S.FALSE_POSITIVE, S.ACCEPTED_RISK})
# Leaving ``new`` for any of these counts as the acknowledgement (time to acknowledge is measured to it).
ACKNOWLEDGING = frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS, *CLOSED})

ALLOWED: dict[AlertStatus, frozenset[AlertStatus]] = {
    S.NEW: frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS, S.RESOLVED, S.FALSE_POSITIVE, S.ACCEPTED_RISK}),
    S.ACKNOWLEDGED: frozenset({S.IN_PROGRESS, S.RESOLVED, S.FALSE_POSITIVE, S.ACCEPTED_RISK}),
    S.IN_PROGRESS: frozenset({S.RESOLVED, S.FALSE_POSITIVE, S.ACCEPTED_RISK}),
    S.RESOLVED: frozenset({S.ACKNOWLEDGED}),
    S.FALSE_POSITIVE: frozenset({S.ACKNOWLEDGED}),
    S.ACCEPTED_RISK: frozenset({S.ACKNOWLEDGED}),
}


def refusal(current: AlertStatus, target: AlertStatus) -> str | None:
    """Why ``current → target`` is not allowed (None: it is)."""
    if current is target:
        return f"the alert is already {current.value}"
    if target in ALLOWED[current]:
        return None
    allowed = ", ".join(sorted(s.value for s in ALLOWED[current]))
    return f"an alert that is {current.value} cannot become {target.value} (allowed: {allowed})"


def _new_asset_match(stored: Alert, candidate: Alert) -> str | None:
    before, after = stored.match, candidate.match
    if (before.field, before.asset_value, before.range) != (after.field, after.asset_value, after.range):
        return f"new asset match: {after.field} {after.asset_value} ({after.range or 'exact'})"
    if stored.possibly_affected and not candidate.possibly_affected:
        return "new asset match: confirmed affected"
    return None


def material_changes(stored: Alert, candidate: Alert) -> list[str]:
    """Why the candidate revision reopens the stored alert (empty: its state is kept)."""
    why: list[str] = []
    if stored.status is S.RESOLVED:
        why.append("matches again")
    if candidate.severity.rank > stored.severity.rank:
        why.append(f"severity up: {stored.severity.value} -> {candidate.severity.value}")
    exploited_before = {c.id for c in stored.cve_details if c.known_exploited}
    newly = sorted({c.id for c in candidate.cve_details if c.known_exploited} - exploited_before)
    if newly:
        why.append(f"newly known exploited: {', '.join(newly)}")
    elif candidate.known_exploited and not stored.known_exploited:
        why.append("newly known exploited")
    asset = _new_asset_match(stored, candidate)
    if asset is not None:
        why.append(asset)
    if stored.status is S.FALSE_POSITIVE:
        return [w for w in why if w.startswith("new asset match")]
    return why


def state_for_revision(stored: Alert, candidate: Alert) -> tuple[AlertStatus, datetime | None, list[str]]:
    """The status and ``raised_at`` of the next revision, and the material reasons that reopened it."""
    why = material_changes(stored, candidate)
    previous_raise = stored.raised_at or stored.created_at
    if why:
        return S.NEW, candidate.matched_at, why
    status = S.NEW if stored.status is S.RESOLVED else stored.status
    return status, previous_raise, []

"""Alert revisions: when a new match, a re-ingest or a revocation is worth telling the provider about.

One alert per (provider, threat, asset). A revision is written only on a material change, so re-ingesting the
same advisory never repeats an alert; the provider's own verdict (acknowledged, false positive, accepted risk)
survives every later revision.
"""

from __future__ import annotations

from datetime import datetime

from ewarn.actions.revisions import remediation_changes
from ewarn.models import Alert, AlertStatus
from ewarn.models.alert_fast import replaced
from ewarn.workflow.states import state_for_revision

FEEDBACK = frozenset(
    {AlertStatus.ACKNOWLEDGED, AlertStatus.IN_PROGRESS, AlertStatus.FALSE_POSITIVE, AlertStatus.ACCEPTED_RISK}
)
# The provider has ruled on these; resolving them would only repeat what they already decided.
_VERDICTS = frozenset({AlertStatus.FALSE_POSITIVE, AlertStatus.ACCEPTED_RISK})
# Confidence drifting by a few points between polls is noise, not news.
MATERIAL_SCORE_DELTA = 5.0


def changes(stored: Alert, candidate: Alert) -> list[str]:
    """Why ``candidate`` would be news compared with the stored revision (empty: it is not)."""
    why: list[str] = []
    if stored.status is AlertStatus.RESOLVED:
        why.append("matches again")
    if candidate.known_exploited and not stored.known_exploited:
        why.append("newly known exploited")
    if candidate.severity is not stored.severity:
        why.append(f"severity {stored.severity.value} -> {candidate.severity.value}")
    elif abs(candidate.score - stored.score) >= MATERIAL_SCORE_DELTA:
        why.append(f"score {stored.score} -> {candidate.score}")
    if candidate.fix_available and not stored.fix_available:
        why.append("fix available")
    added = [c for c in candidate.cves if c not in stored.cves]
    if added:  # a revision of the advisory names more CVEs that hit this asset
        why.append(f"more CVEs: {', '.join(added)}")
    if stored.possibly_affected and not candidate.possibly_affected:
        why.append("confirmed affected")
    why += remediation_changes(stored, candidate)  # a new due date, fixed version or kind of action
    return why


def next_revision(stored: Alert | None, candidate: Alert) -> Alert | None:
    """The revision to store and publish for a fresh match, or None when nothing material changed."""
    if stored is None:
        return replaced(candidate, revision=1, raised_at=candidate.matched_at)
    if not changes(stored, candidate):
        return None
    # the workflow's state survives unless the change is material (ewarn.workflow.states)
    status, raised_at, _ = state_for_revision(stored, candidate)
    return candidate.model_copy(
        update={
            "revision": stored.revision + 1,
            "status": status,
            "raised_at": raised_at,
            "created_at": stored.created_at,
            "fix_available": candidate.fix_available or stored.fix_available,
        }
    )


def resolve(stored: Alert, *, why: str, now: datetime) -> Alert | None:
    """The revision closing an alert (indicator revoked or expired, asset gone); None if already closed."""
    if stored.status is AlertStatus.RESOLVED or stored.status in _VERDICTS:
        return None
    reason = stored.reason.rstrip()
    return stored.model_copy(
        update={
            "revision": stored.revision + 1,
            "status": AlertStatus.RESOLVED,
            "reason": f"{reason}{' ' if reason.endswith('.') else '. '}Resolved: {why}.",
            "updated_at": now,
            "matched_at": now,
        }
    )

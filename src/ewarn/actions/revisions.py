"""When a change in what to do is news: the rule the correlator's lifecycle applies to remediations.

A new revision (a new webhook, e-mail and event) is sent when the *action* changes, not its wording:

- a KEV required action or due date appears or its due date changes (CISA sets a deadline);
- the fixed versions change (the vendor names a newer or a first fixed version);
- a category of action appears that the stored revision did not have (a workaround, a mitigation, "no fix
  planned", a vendor fix).

Reworded remediation text, a changed URL or reordered references are not news: they reach the API with the
next material revision, and nobody is paged at 3 a.m. for a copy edit in a republished advisory.
"""

from __future__ import annotations

from ewarn.models.alert import Alert
from ewarn.models.indicator import RemediationCategory


def _due_dates(alert: Alert) -> set[str]:
    dates = {r.due_date for r in alert.remediations if r.due_date}
    return dates | ({alert.exploitation.kev_due_date} if alert.exploitation.kev_due_date else set())


def _fixed(alert: Alert) -> set[str]:
    return {
        v
        for r in alert.remediations
        if r.category is RemediationCategory.VENDOR_FIX
        for v in r.fixed_versions
    }


def remediation_changes(stored: Alert, candidate: Alert) -> list[str]:
    """Why the candidate's actions are news compared with the stored revision (empty: they are not).

    A revision stored before alerts carried actions (no asset contact) is not compared: an upgrade must not
    re-send every open alert.
    """
    why: list[str] = []
    if stored.asset_contact is None:
        return why
    before, after = _due_dates(stored), _due_dates(candidate)
    if after and after != before:
        why.append(f"required action due {', '.join(sorted(after))}")
    fixed_before, fixed_after = _fixed(stored), _fixed(candidate)
    if fixed_after - fixed_before:
        why.append(f"fixed in {', '.join(sorted(fixed_after - fixed_before))}")
    new_categories = {r.category for r in candidate.remediations} - {r.category for r in stored.remediations}
    new_categories.discard(RemediationCategory.REQUIRED_ACTION)  # said above with its date
    if RemediationCategory.VENDOR_FIX in new_categories and fixed_after - fixed_before:
        new_categories.discard(RemediationCategory.VENDOR_FIX)  # said above with its versions
    if new_categories:
        why.append(f"new recommended action: {', '.join(sorted(c.value for c in new_categories))}")
    return why

"""What to do, in STIX 2.1: a ``course-of-action`` per recommended action, each ``mitigates`` the threat.

The source's action keeps its words (``description``) and its links (``external_references``: the vendor's
URL, the advisory's page); fixed versions and a KEV due date are stated in the description. ewarn's next steps
and the operator's playbook are courses of action too, so a STIX-consuming SOC tool shows them beside the
threat.
"""

from __future__ import annotations

from typing import Any

import stix2

from ewarn.models.alert import Alert
from ewarn.stixmap import PRODUCER_ID, TLP_MARKINGS, stix_id

_NAMES = {
    "required_action": "Required action (CISA KEV)",
    "vendor_fix": "Vendor fix",
    "workaround": "Workaround",
    "mitigation": "Mitigation",
    "no_fix_planned": "No fix planned",
    "none_available": "No fix available yet",
}


def _advisory_reference(alert: Alert) -> list[dict[str, str]]:
    if alert.advisory_url is None:
        return []
    return [{"source_name": alert.advisory or "advisory", "url": alert.advisory_url}]


def action_objects(alert: Alert, threat_id: str) -> list[stix2.base._STIXBase]:
    """The alert's remediations, next steps and playbook as courses of action that mitigate ``threat_id``."""
    rev = str(alert.revision)
    common: dict[str, Any] = {
        "created": alert.created_at or alert.matched_at,
        "modified": alert.updated_at or alert.matched_at,
        "created_by_ref": PRODUCER_ID,
        "object_marking_refs": [TLP_MARKINGS[alert.tlp]],
    }
    actions: list[stix2.CourseOfAction] = []
    for n, item in enumerate(alert.remediations):
        lines = [item.text]
        if item.fixed_versions:
            lines.append(f"Fixed version: {', '.join(item.fixed_versions)}")
        if item.due_date:
            lines.append(f"Due date: {item.due_date}")
        links = [{"source_name": item.source, "url": item.url}] if item.url else []
        actions.append(
            stix2.CourseOfAction(
                id=stix_id("course-of-action", alert.id, rev, "remediation", str(n)),
                name=_NAMES.get(item.category.value, item.category.value),
                description="\n".join(lines),
                external_references=(links + _advisory_reference(alert)) or None,
                **common,
            )
        )
    for n, step in enumerate(alert.next_steps):
        actions.append(
            stix2.CourseOfAction(
                id=stix_id("course-of-action", alert.id, rev, "step", str(n)),
                name=f"Next step: {step.kind.value.replace('_', ' ')}",
                description=step.text,
                **common,
            )
        )
    if alert.playbook is not None:
        actions.append(
            stix2.CourseOfAction(
                id=stix_id("course-of-action", alert.id, rev, "playbook"),
                name=alert.playbook.title or "Response playbook",
                external_references=[{"source_name": "playbook", "url": alert.playbook.url}],
                **common,
            )
        )
    relations = [
        stix2.Relationship(
            id=stix_id("relationship", alert.id, rev, action.id),
            relationship_type="mitigates",
            source_ref=action.id,
            target_ref=threat_id,
            **common,
        )
        for action in actions
    ]
    return [*actions, *relations]

"""What every integration format shows of an alert, decided once: headline, flags, actions, facts, links.

The renderers (Teams, Slack, TheHive, CEF) only lay this out in their own syntax, so an alert reads the same
in every tool: the source's recommended actions verbatim (vendor fix with fixed versions, mitigation,
workaround, KEV required action and due date), ewarn's next steps, the affected asset and who owns it, the
exploitation flags and the links to the advisory, the CVE records and the operator's playbook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ewarn.dispatch.payload import AlertData
from ewarn.models.indicator import RemediationCategory

CATEGORY_LABELS: dict[RemediationCategory, str] = {
    RemediationCategory.VENDOR_FIX: "Vendor fix",
    RemediationCategory.MITIGATION: "Mitigation",
    RemediationCategory.WORKAROUND: "Workaround",
    RemediationCategory.NO_FIX_PLANNED: "No fix planned",
    RemediationCategory.NONE_AVAILABLE: "No fix available",
    RemediationCategory.REQUIRED_ACTION: "Required action (CISA KEV)",
}


@dataclass(frozen=True)
class Fact:
    title: str
    value: str


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class Action:
    """One recommended action: ``label`` is what kind it is, ``text`` the source's words, verbatim."""

    label: str
    text: str
    fixed_versions: tuple[str, ...] = ()
    due_date: str | None = None
    url: str | None = None

    def line(self) -> str:
        """The action as one plain-text line (the source's text unchanged inside it)."""
        out = f"{self.label}: {self.text}"
        if self.fixed_versions:
            out += f" (fixed in {', '.join(self.fixed_versions)})"
        if self.due_date:
            out += f" (due {self.due_date})"
        return out


@dataclass(frozen=True)
class AlertSummary:
    data: AlertData
    headline: str
    flags: tuple[str, ...]
    actions: tuple[Action, ...]
    facts: tuple[Fact, ...]
    links: tuple[Link, ...]

    @property
    def indicator(self) -> str:
        return indicator_value(self.data)


def indicator_value(data: AlertData) -> str:
    """The indicator's value without its type prefix (``ipv4:203.0.113.7`` → ``203.0.113.7``)."""
    return data.indicator_key.removeprefix(f"{data.indicator_type.value}:")


def _when(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else None


def web_url(url: str | None) -> str | None:
    """``url`` when it is an http(s) link a chat client can open; None otherwise (never a javascript: link)."""
    if url and url.lower().startswith(("https://", "http://")) and not any(c.isspace() for c in url):
        return url
    return None


def _flags(data: AlertData) -> tuple[str, ...]:
    out: list[str] = []
    if data.exploitation.known_exploited or data.known_exploited:
        out.append("Known exploited (CISA KEV)")
    if data.exploitation.known_ransomware_use:
        out.append("Known ransomware use")
    if data.possibly_affected:
        out.append("Possibly affected: check the version")
    return tuple(out)


def _actions(data: AlertData) -> tuple[Action, ...]:
    out = [
        Action(
            label=CATEGORY_LABELS.get(r.category, r.category.value),
            text=r.text,
            fixed_versions=tuple(r.fixed_versions),
            due_date=r.due_date,
            url=web_url(r.url),
        )
        for r in data.remediations
    ]
    for step in data.next_steps:
        text = step.text
        if step.lookback_days and f"{step.lookback_days} days" not in text:
            text = f"{text} (past {step.lookback_days} days)"
        since = _when(step.since)
        if since and since not in text:
            text = f"{text} (since {since})"
        out.append(Action(label="Next step", text=text))
    return tuple(out)


def _facts(data: AlertData, indicator: str) -> tuple[Fact, ...]:
    contact = data.asset_contact
    facts: list[tuple[str, str | None]] = [
        ("Asset", f"{contact.name if contact else data.match.asset_name} ({data.match.asset_kind})"),
        ("Location", contact.location if contact else None),
        ("Owner", contact.owner if contact else None),
        ("Supports", contact.supports if contact else None),
        ("Part of", contact.part_of if contact else None),
        ("Matched", f"{data.match.field} {data.match.asset_value}"),
        ("Indicator", f"{data.indicator_type.value} {indicator}"),
        ("CVEs", ", ".join(data.cves[:20]) + (" …" if len(data.cves) > 20 else "")),
        ("Advisory", data.advisory),
        ("KEV due date", data.exploitation.kev_due_date),
        ("First seen", _when(data.indicator_first_seen)),
        ("Last seen", _when(data.indicator_last_seen)),
        ("Severity", f"{data.severity.value} (score {data.score:g})"),
        ("TLP", f"TLP:{data.tlp.value.upper()}"),
        ("Alert", f"{data.id} revision {data.revision}"),
    ]
    return tuple(Fact(title, value) for title, value in facts if value)


def _links(data: AlertData) -> tuple[Link, ...]:
    seen: set[str] = set()
    out: list[Link] = []

    def add(title: str, url: str | None) -> None:
        checked = web_url(url)
        if checked is not None and checked not in seen:
            seen.add(checked)
            out.append(Link(title, checked))

    add(f"Advisory {data.advisory}" if data.advisory else "Advisory", data.advisory_url)
    if data.playbook is not None:
        add(f"Playbook: {data.playbook.title}" if data.playbook.title else "Playbook", data.playbook.url)
    for ref in data.references:
        add(
            ref.title or " ".join(p for p in (ref.kind, ref.id) if p and p != "other") or "Reference", ref.url
        )
    return tuple(out)


def summarise(data: AlertData) -> AlertSummary:
    indicator = indicator_value(data)
    return AlertSummary(
        data=data,
        headline=f"[{data.severity.value.upper()}] {data.title}",
        flags=_flags(data),
        actions=_actions(data),
        facts=_facts(data, indicator),
        links=_links(data),
    )


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"

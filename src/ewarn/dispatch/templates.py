"""E-mail wording per language: add one ``Phrases`` to ``LANGUAGES``; English is the fallback.

Only words live here; layout is shared (``ewarn.dispatch.email``), so every language gets the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from ewarn.models.common import TLP


@dataclass(frozen=True)
class Phrases:
    intro: str
    severity: str
    score: str
    tlp: str
    asset: str
    indicator: str
    why: str
    cves: str
    known_exploited: str
    possibly_affected: str
    advisory: str
    matched_at: str
    alert_id: str
    digest_subject: str  # {count} {period}
    digest_intro: str  # {count} {window}
    disabled_subject: str
    disabled_body: str  # {subscription_id} {target} {reason}
    footer: str
    tlp_rules: dict[TLP, str]


ENGLISH = Phrases(
    intro="ewarn matched a threat against your registered assets.",
    severity="Severity",
    score="Score",
    tlp="TLP",
    asset="Asset",
    indicator="Indicator",
    why="Why",
    cves="CVEs",
    known_exploited="Known exploited",
    possibly_affected="Possibly affected — review: the match could not be confirmed from the version",
    advisory="Advisory",
    matched_at="Matched at",
    alert_id="Alert",
    digest_subject="{count} low-severity alerts ({period} digest)",
    digest_intro="{count} alerts of low severity were matched in {window}.",
    disabled_subject="webhook subscription disabled",
    disabled_body=(
        "Your webhook subscription {subscription_id} to {target} was disabled: {reason}.\n"
        "Alerts are kept as dead letters; fix the endpoint, re-enable the subscription and replay them."
    ),
    footer="Sent by ewarn, the early-warning service for hospitals. Do not reply to this message.",
    tlp_rules={
        TLP.CLEAR: "TLP:CLEAR — may be shared without restriction.",
        TLP.GREEN: "TLP:GREEN — may be shared within your community, not publicly.",
        TLP.AMBER: "TLP:AMBER — share only within your organisation and its clients, need-to-know.",
        TLP.AMBER_STRICT: "TLP:AMBER+STRICT — share only within your organisation, need-to-know.",
        TLP.RED: "TLP:RED — for the named recipients only.",
    },
)

GERMAN = Phrases(
    intro="ewarn hat eine Bedrohung für Ihre registrierten Systeme erkannt.",
    severity="Schweregrad",
    score="Bewertung",
    tlp="TLP",
    asset="System",
    indicator="Indikator",
    why="Begründung",
    cves="CVEs",
    known_exploited="Bekannt ausgenutzt",
    possibly_affected="Möglicherweise betroffen — bitte prüfen: die Version ließ sich nicht bestätigen",
    advisory="Sicherheitshinweis",
    matched_at="Erkannt am",
    alert_id="Warnung",
    digest_subject="{count} Warnungen niedriger Schwere (Zusammenfassung {period})",
    digest_intro="{count} Warnungen niedriger Schwere wurden im Zeitraum {window} erkannt.",
    disabled_subject="Webhook-Abonnement deaktiviert",
    disabled_body=(
        "Ihr Webhook-Abonnement {subscription_id} an {target} wurde deaktiviert: {reason}.\n"
        "Die Warnungen bleiben als unzustellbar erhalten; beheben Sie den Endpunkt, aktivieren Sie das "
        "Abonnement wieder und stellen Sie sie erneut zu."
    ),
    footer="Gesendet von ewarn, dem Frühwarndienst für Krankenhäuser. Bitte nicht antworten.",
    tlp_rules={
        TLP.CLEAR: "TLP:CLEAR — darf ohne Einschränkung weitergegeben werden.",
        TLP.GREEN: "TLP:GREEN — Weitergabe innerhalb Ihrer Community, nicht öffentlich.",
        TLP.AMBER: "TLP:AMBER — Weitergabe nur in Ihrer Organisation und an deren Kunden, wenn nötig.",
        TLP.AMBER_STRICT: "TLP:AMBER+STRICT — Weitergabe nur innerhalb Ihrer Organisation, wenn nötig.",
        TLP.RED: "TLP:RED — nur für die genannten Empfänger.",
    },
)

LANGUAGES: dict[str, Phrases] = {"en": ENGLISH, "de": GERMAN}


def phrases_for(language: str | None) -> Phrases:
    """The provider's language ("de", "de-AT" → German), English when we have no wording for it."""
    code = (language or "en").lower().split("-", 1)[0].split("_", 1)[0]
    return LANGUAGES.get(code, ENGLISH)

"""Microsoft Teams: an Adaptive Card in the message envelope that incoming webhooks and Workflows accept.

The card is Adaptive Card 1.4, the version every Teams client renders (validated in the tests against the
published ``adaptive-card.json`` schema). Teams refuses messages over about 28 KB, so every text is clipped
and lists are bounded; what does not fit is behind the advisory link.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ewarn.dispatch.formats.summary import AlertSummary, clip, summarise
from ewarn.dispatch.payload import AlertData
from ewarn.models.alert import Severity

CONTENT_TYPE = "application/json"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"
MAX_ACTIONS = 6  # Teams shows at most six buttons on a card
MAX_LIST = 8  # actions or digest rows listed before "… and N more"
MAX_TEXT = 1200
MAX_DIGEST_ALERTS = 25

_STYLE = {  # the container colour of the card's header
    Severity.CRITICAL: "attention",
    Severity.HIGH: "attention",
    Severity.MEDIUM: "warning",
    Severity.LOW: "emphasis",
    Severity.INFO: "emphasis",
}


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": clip(text, MAX_TEXT), "wrap": True, **style}


def _header(summary: AlertSummary) -> dict[str, Any]:
    data = summary.data
    items = [_text(summary.headline, weight="Bolder", size="Medium")]
    meta = f"TLP:{data.tlp.value.upper()} · score {data.score:g} · ewarn {data.id} rev {data.revision}"
    items.append(_text(meta, isSubtle=True, spacing="None", size="Small"))
    if summary.flags:
        items.append(_text(" · ".join(summary.flags), color="Attention", weight="Bolder"))
    return {"type": "Container", "style": _STYLE[data.severity], "bleed": True, "items": items}


def card(summary: AlertSummary) -> dict[str, Any]:
    """The Adaptive Card of one alert: what happened, what to do first, on which asset, where to read more."""
    body: list[dict[str, Any]] = [_header(summary), _text(summary.data.reason)]
    if summary.actions:
        body.append(_text("What to do", weight="Bolder", spacing="Medium"))
        for action in summary.actions[:MAX_LIST]:
            body.append(_text(f"- {action.line()}", spacing="Small"))
        if len(summary.actions) > MAX_LIST:
            body.append(_text(f"… and {len(summary.actions) - MAX_LIST} more in the advisory", isSubtle=True))
    facts = [{"title": f.title, "value": clip(f.value, 400)} for f in summary.facts]
    body.append({"type": "FactSet", "facts": facts, "spacing": "Medium"})
    out: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": clip(f"{summary.headline}: {summary.data.reason}", MAX_TEXT),
        "body": body,
    }
    actions = [
        {"type": "Action.OpenUrl", "title": clip(link.title, 60), "url": link.url}
        for link in summary.links[:MAX_ACTIONS]
    ]
    if actions:
        out["actions"] = actions
    return out


def digest_card(summaries: Sequence[AlertSummary], *, window: str) -> dict[str, Any]:
    """One card for a digest window: a row per alert, worst first."""
    ordered = sorted(summaries, key=lambda s: (-s.data.severity.rank, -s.data.score))
    body: list[dict[str, Any]] = [
        _text(f"ewarn digest: {len(ordered)} alerts ({window})", weight="Bolder", size="Medium")
    ]
    for s in ordered[:MAX_DIGEST_ALERTS]:
        asset = next((f.value for f in s.facts if f.title == "Asset"), s.data.asset_id)
        body.append(_text(f"**{s.headline}**", spacing="Medium"))
        body.append(_text(f"{asset} · {s.data.id}", isSubtle=True, spacing="None", size="Small"))
        if s.actions:
            body.append(_text(s.actions[0].line(), spacing="None"))
    if len(ordered) > MAX_DIGEST_ALERTS:
        body.append(_text(f"… and {len(ordered) - MAX_DIGEST_ALERTS} more", isSubtle=True))
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": f"ewarn digest: {len(ordered)} alerts ({window})",
        "body": body,
    }


def message(content: dict[str, Any]) -> dict[str, Any]:
    """The envelope Teams incoming webhooks and Workflows ("post card to a channel") take."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": content}],
    }


def _bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def render(data: AlertData) -> tuple[bytes, str]:
    return _bytes(message(card(summarise(data)))), CONTENT_TYPE


def render_digest(alerts: Sequence[AlertData], *, window: str) -> tuple[bytes, str]:
    return _bytes(message(digest_card([summarise(a) for a in alerts], window=window))), CONTENT_TYPE

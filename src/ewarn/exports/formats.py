"""Export writers: each turns a stream of alerts into a stream of bytes (head, one piece per alert, tail).

Nothing is held but a few counters, so an export of any size is streamed in constant memory:

- ``stix``: one STIX 2.1 bundle (the objects of ``ewarn.stixmap``; the shared identities once each);
- ``csv``: one row per alert, RFC 4180, cells a spreadsheet would run as a formula prefixed with ``'``; what to
  do in ``recommended_action`` (each remediation as ``category: text``, `` | ``-separated), ``fixed_versions``,
  ``due_date`` (the earliest) and ``advisory_url``;
- ``misp``: one MISP event (core format, what MISP's "Populate from JSON" and PyMISP's ``MISPEvent.load``
  take): one attribute per alert with ``to_ids`` (true for observables, false for vulnerabilities), tags
  ``tlp:<level>`` and ``ewarn:severity="<level>"`` on each attribute, and on the event the strictest TLP and
  the worst severity. Each recommended action is a ``text`` attribute (category "External analysis", not for
  IDS: the source's words, the fixed versions and the due date), the advisory page a ``link`` attribute; their
  comments name the alert like its indicator attribute's does.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from ewarn.models.alert import Alert, Severity
from ewarn.models.common import TLP
from ewarn.models.indicator import IndicatorType, Remediation
from ewarn.stixmap import alert_object_dicts, indicator_value

FORMATS = ("stix", "csv", "misp")
MEDIA_TYPES = {
    "stix": "application/stix+json;version=2.1",
    "csv": "text/csv; charset=utf-8",
    "misp": "application/json",
}
EXTENSIONS = {"stix": "json", "csv": "csv", "misp": "misp.json"}
_NAMESPACE = uuid.UUID("2f0b8f5c-54a5-4a0e-9c1c-5d0f4b6f6e31")


class ExportWriter(Protocol):
    def head(self) -> bytes: ...

    def item(self, alert: Alert) -> bytes: ...

    def tail(self) -> bytes: ...


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class StixWriter:
    """One bundle; identities shared by many alerts are written once."""

    def __init__(self, export_id: str) -> None:
        self.bundle_id = f"bundle--{uuid.uuid5(_NAMESPACE, export_id)}"
        self.first = True
        self.identities: set[str] = set()

    def head(self) -> bytes:
        return b'{"type":"bundle","id":"' + self.bundle_id.encode() + b'","objects":['

    def item(self, alert: Alert) -> bytes:
        out = bytearray()
        for obj in alert_object_dicts(alert):
            if obj["type"] == "identity":
                if obj["id"] in self.identities:
                    continue
                self.identities.add(obj["id"])
            out += (b"" if self.first else b",") + _json(obj)
            self.first = False
        return bytes(out)

    def tail(self) -> bytes:
        return b"]}\n"


CSV_COLUMNS = (
    "id",
    "revision",
    "provider_id",
    "severity",
    "score",
    "tlp",
    "status",
    "indicator_type",
    "indicator_value",
    "asset_id",
    "title",
    "reason",
    "cves",
    "known_exploited",
    "labels",
    "matched_at",
    "updated_at",
    "recommended_action",
    "fixed_versions",
    "due_date",
    "advisory_url",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """Text for a cell; one a spreadsheet would evaluate as a formula is quoted with a leading ``'``."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(alert: Alert) -> list[str]:
    """One alert as its CSV cells (``CSV_COLUMNS``), before formula quoting."""
    when = alert.updated_at or alert.matched_at
    return [
        alert.id,
        str(alert.revision),
        alert.provider_id,
        alert.severity.value,
        f"{alert.score:g}",
        alert.tlp.value,
        alert.status.value,
        alert.indicator_type.value,
        indicator_value(alert),
        alert.asset_id,
        alert.title,
        alert.reason,
        ";".join(alert.cves),
        "true" if alert.known_exploited else "false",
        ";".join(alert.labels),
        alert.matched_at.isoformat(),
        when.isoformat(),
        " | ".join(f"{r.category.value}: {r.text}" for r in alert.remediations),
        ";".join(dict.fromkeys(v for r in alert.remediations for v in r.fixed_versions)),
        min((r.due_date for r in alert.remediations if r.due_date), default=""),
        alert.advisory_url or "",
    ]


class CsvWriter:
    def _line(self, cells: list[str]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow([_cell(c) for c in cells])
        return buffer.getvalue().encode()

    def head(self) -> bytes:
        return self._line(list(CSV_COLUMNS))

    def item(self, alert: Alert) -> bytes:
        return self._line(csv_row(alert))

    def tail(self) -> bytes:
        return b""


# indicator type -> (MISP attribute type, category, to_ids)
_MISP_TYPES: dict[IndicatorType, tuple[str, str, bool]] = {
    IndicatorType.IPV4: ("ip-dst", "Network activity", True),
    IndicatorType.IPV6: ("ip-dst", "Network activity", True),
    IndicatorType.DOMAIN: ("domain", "Network activity", True),
    IndicatorType.URL: ("url", "Network activity", True),
    IndicatorType.EMAIL: ("email-src", "Payload delivery", True),
    IndicatorType.ASN: ("AS", "Network activity", True),
    IndicatorType.MD5: ("md5", "Payload delivery", True),
    IndicatorType.SHA1: ("sha1", "Payload delivery", True),
    IndicatorType.SHA256: ("sha256", "Payload delivery", True),
    IndicatorType.SHA512: ("sha512", "Payload delivery", True),
}
# MISP threat levels: 1 high, 2 medium, 3 low, 4 undefined
_THREAT_LEVEL = {
    Severity.CRITICAL: "1",
    Severity.HIGH: "1",
    Severity.MEDIUM: "2",
    Severity.LOW: "3",
    Severity.INFO: "4",
}


def severity_tag(severity: Severity) -> str:
    return f'ewarn:severity="{severity.value}"'


def tlp_tag(tlp: TLP) -> str:
    return f"tlp:{tlp.value}"


def misp_attribute(alert: Alert) -> dict[str, Any]:
    """One alert as a MISP attribute (the alert id and reason in its comment)."""
    value = indicator_value(alert)
    if alert.indicator_type is IndicatorType.VULNERABILITY:
        kind = ("vulnerability" if value.upper().startswith("CVE-") else "text", "External analysis", False)
    else:
        kind = _MISP_TYPES[alert.indicator_type]
    when = alert.updated_at or alert.matched_at
    return {
        "uuid": str(uuid.uuid5(_NAMESPACE, f"{alert.id}\x1f{alert.revision}")),
        "type": kind[0],
        "category": kind[1],
        "value": value,
        "to_ids": kind[2],
        "comment": f"ewarn {alert.id} r{alert.revision} [{alert.severity.value}] {alert.title}: {alert.reason}"[
            :2000
        ],
        "timestamp": str(int(when.timestamp())),
        "distribution": "5",  # inherit the event's
        "disable_correlation": False,
        "Tag": [{"name": tlp_tag(alert.tlp)}, {"name": severity_tag(alert.severity)}],
    }


def remediation_text(item: Remediation) -> str:
    """A recommended action as MISP ``text``: the source's words, then the fixed versions and the due date."""
    lines = [item.text]
    if item.fixed_versions:
        lines.append(f"Fixed version: {', '.join(item.fixed_versions)}")
    if item.due_date:
        lines.append(f"Due date: {item.due_date}")
    if item.url:
        lines.append(item.url)
    return "\n".join(lines)


def misp_action_attributes(alert: Alert) -> list[dict[str, Any]]:
    """The alert's recommended actions (``text``) and advisory page (``link``), never for IDS."""
    base = misp_attribute(alert)
    named = f"ewarn {alert.id} r{alert.revision}"
    out: list[dict[str, Any]] = []
    for n, item in enumerate(alert.remediations):
        out.append(
            {
                **base,
                "uuid": str(uuid.uuid5(_NAMESPACE, f"{alert.id}\x1f{alert.revision}\x1fremediation\x1f{n}")),
                "type": "text",
                "category": "External analysis",
                "value": remediation_text(item),
                "to_ids": False,
                "comment": f"{named} recommended action ({item.category.value}, {item.source})",
            }
        )
    if alert.advisory_url:
        out.append(
            {
                **base,
                "uuid": str(uuid.uuid5(_NAMESPACE, f"{alert.id}\x1f{alert.revision}\x1fadvisory")),
                "type": "link",
                "category": "External analysis",
                "value": alert.advisory_url,
                "to_ids": False,
                "comment": f"{named} advisory {alert.advisory or ''}".rstrip(),
            }
        )
    return out


class MispWriter:
    """One event; its TLP tag and threat level (the strictest and the worst seen) are written at the end."""

    def __init__(self, export_id: str, info: str, now: Callable[[], datetime]) -> None:
        self.event_uuid = str(uuid.uuid5(_NAMESPACE, export_id))
        self.info = info
        self.now = now()
        self.first = True
        self.tlp: TLP | None = None
        self.severity: Severity | None = None

    def head(self) -> bytes:
        event = {
            "uuid": self.event_uuid,
            "info": self.info,
            "date": self.now.date().isoformat(),
            "timestamp": str(int(self.now.timestamp())),
            "analysis": "2",  # completed
            "distribution": "0",  # your organisation only: the receiver decides how far it goes
            "published": False,
        }
        return b'{"Event":' + _json(event)[:-1] + b',"Attribute":['

    def item(self, alert: Alert) -> bytes:
        if self.tlp is None or alert.tlp.rank > self.tlp.rank:
            self.tlp = alert.tlp
        if self.severity is None or alert.severity.rank > self.severity.rank:
            self.severity = alert.severity
        attributes = [misp_attribute(alert), *misp_action_attributes(alert)]
        piece = (b"" if self.first else b",") + b",".join(_json(a) for a in attributes)
        self.first = False
        return piece

    def tail(self) -> bytes:
        tags = [{"name": tlp_tag(self.tlp or TLP.CLEAR)}]
        if self.severity is not None:
            tags.append({"name": severity_tag(self.severity)})
        level = _THREAT_LEVEL[self.severity] if self.severity is not None else "4"
        return b'],"Tag":' + _json(tags) + b',"threat_level_id":"' + level.encode() + b'"}}\n'


def writer_for(
    fmt: str, *, export_id: str, info: str, now: Callable[[], datetime] | None = None
) -> ExportWriter:
    """The writer of ``fmt`` (one of ``FORMATS``)."""
    if fmt == "stix":
        return StixWriter(export_id)
    if fmt == "csv":
        return CsvWriter()
    if fmt == "misp":
        return MispWriter(export_id, info, now or (lambda: datetime.now(UTC)))
    raise ValueError(f"unknown export format {fmt!r}; choose from {FORMATS}")

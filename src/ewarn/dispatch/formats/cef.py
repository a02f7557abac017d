"""ArcSight Common Event Format (CEF 0) for one alert: the message a SIEM reads inside a syslog line.

Written by hand: the CEF libraries on PyPI (``cefevent``) strip values, leave a carriage return unescaped
and drop fields they cannot validate without saying so; escaping is the part that must be exact.

Escaping, as the CEF specification (Micro Focus "Implementing ArcSight CEF", rev. 25) defines it:

- header fields (vendor, product, version, event class id, name): a backslash as ``\\\\`` and a pipe as
  ``\\|``; a header field cannot hold a line break, so line breaks become spaces;
- extension values: a backslash as ``\\\\``, an equals sign as ``\\=``, a line feed (or CR LF) as ``\\n`` and a
  lone carriage return as ``\\r``. A pipe needs no escape there. Keys are fixed names of ours.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime

from ewarn import __version__
from ewarn.dispatch.formats.summary import AlertSummary, clip, summarise
from ewarn.dispatch.payload import AlertData
from ewarn.models.alert import Severity
from ewarn.models.indicator import IndicatorType

VENDOR = "ewarn"
PRODUCT = "ewarn"
CONTENT_TYPE = "text/plain; charset=utf-8"
SEVERITY = {  # CEF 0-10
    Severity.INFO: 1,
    Severity.LOW: 3,
    Severity.MEDIUM: 5,
    Severity.HIGH: 8,
    Severity.CRITICAL: 10,
}
_HASHES = (IndicatorType.MD5, IndicatorType.SHA1, IndicatorType.SHA256, IndicatorType.SHA512)


def escape_header(value: str) -> str:
    """A CEF header field: ``\\`` and ``|`` escaped, line breaks as spaces."""
    value = value.replace("\\", "\\\\").replace("|", "\\|")
    return value.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def escape_extension(value: str) -> str:
    """A CEF extension value: ``\\``, ``=`` escaped, line feeds as ``\\n``, carriage returns as ``\\r``."""
    value = value.replace("\\", "\\\\").replace("=", "\\=")
    return value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


def _millis(value: datetime) -> str:
    return str(int(value.timestamp() * 1000))


def _observable(data: AlertData, value: str) -> list[tuple[str, str]]:
    """The indicator in CEF's own field for its kind, where there is one (an IP address, a URL, a hash)."""
    if data.indicator_type in (IndicatorType.IPV4, IndicatorType.IPV6):
        try:
            address = ipaddress.ip_address(value)
        except ValueError:  # a network: no CEF address field takes it; it stays in cs5
            return []
        return [("src", str(address))] if address.version == 4 else [("c6a2", str(address))]
    if data.indicator_type is IndicatorType.URL:
        return [("request", value)]
    if data.indicator_type in _HASHES:
        return [("fileHash", value)]
    if data.indicator_type is IndicatorType.DOMAIN:
        return [("shost", value)]
    return []


def extension_fields(summary: AlertSummary) -> list[tuple[str, str]]:
    """The extension as (key, raw value) pairs, in a stable order."""
    data = summary.data
    contact = data.asset_contact
    asset = next((f.value for f in summary.facts if f.title == "Asset"), data.asset_id)
    where = [p for p in (contact.location if contact else None, contact.supports if contact else None) if p]
    fields: list[tuple[str, str]] = [
        ("rt", _millis(data.updated_at or data.created_at or data.matched_at)),
        ("externalId", data.id),
        ("cat", data.indicator_type.value),
        ("msg", clip(data.reason, 1023)),
        ("cs1Label", "recommendedActions"),
        ("cs1", clip(" | ".join(a.line() for a in summary.actions), 4000)),
        ("cs2Label", "cves"),
        ("cs2", " ".join(data.cves)),
        ("cs3Label", "asset"),
        ("cs3", clip(" · ".join([asset, *where]), 4000)),
        ("cs4Label", "advisory"),
        ("cs4", data.advisory or ""),
        ("cs5Label", "indicator"),
        ("cs5", summary.indicator),
        ("cs6Label", "tlp"),
        ("cs6", f"TLP:{data.tlp.value.upper()}"),
        ("cfp1Label", "score"),
        ("cfp1", f"{data.score:g}"),
        ("cn1Label", "revision"),
        ("cn1", str(data.revision)),
        ("cn2Label", "knownExploited"),
        ("cn2", "1" if data.exploitation.known_exploited or data.known_exploited else "0"),
        ("cn3Label", "knownRansomwareUse"),
        ("cn3", "1" if data.exploitation.known_ransomware_use else "0"),
        ("flexString1Label", "assetOwner"),
        ("flexString1", contact.owner if contact and contact.owner else ""),
        ("flexString2Label", "references"),
        ("flexString2", clip(" ".join(link.url for link in summary.links), 1023)),
        *_observable(data, summary.indicator),
    ]
    # A label whose value is empty says nothing: both go.
    empty = {key for key, value in fields if not value}
    return [(k, v) for k, v in fields if k not in empty and k.removesuffix("Label") not in empty]


def cef_line(data: AlertData) -> str:
    """``CEF:0|ewarn|ewarn|<version>|<event class>|<name>|<severity>|<extension>`` for one alert."""
    summary = summarise(data)
    header = [
        "CEF:0",
        escape_header(VENDOR),
        escape_header(PRODUCT),
        escape_header(__version__),
        escape_header(f"alert.{data.indicator_type.value}"),
        escape_header(clip(summary.headline, 512)),
        str(SEVERITY[data.severity]),
    ]
    extension = " ".join(f"{key}={escape_extension(value)}" for key, value in extension_fields(summary))
    return "|".join(header) + "|" + extension


def render(data: AlertData) -> tuple[bytes, str]:
    return cef_line(data).encode(), CONTENT_TYPE

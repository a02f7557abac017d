"""CSV inventory files.

Columns (header row required, names case-insensitive, any order; only ``kind`` is mandatory)::

    kind,name,value,vendor,product,version,cpe,purl,udi_di,clinical_criticality,network_exposure,
    location,owner,criticality,tags,serial,category,care_dependency,supports

- ``kind``: network, domain, hostname, email_domain, asn, software, medical_device, infrastructure
- ``value``: the CIDR / address, domain, hostname, email domain or AS number (network-like kinds only)
- ``vendor``, ``product``, ``version``: software vendor/product/version, or device manufacturer/model/firmware
- ``cpe`` (CPE 2.3 formatted string), ``purl`` (Package URL), ``udi_di`` (device identifier of the UDI)
- ``clinical_criticality``: life_sustaining, diagnostic, treatment, support (devices only)
- ``network_exposure``: internet, internal, isolated
- infrastructure equipment only: ``category`` (building_automation, power, fire_safety, access_control,
  video, communication, network_gateway, lab_automation, other; also "HVAC", "UPS", "CCTV", "intercom"…),
  ``care_dependency`` (life_sustaining, treatment, diagnostic, support, none), ``supports`` (what care relies
  on it: "UPS feeding ICU"), ``serial``
- ``criticality``: low, medium (default), high, critical
- ``tags``: separated by ``;`` or ``|``

Enumerations accept spaces or hyphens for underscores and any case ("Life-sustaining"). The delimiter is a
comma, or a semicolon when the header has semicolons and no commas (spreadsheet exports in many locales).
Blank lines and lines whose first cell starts with ``#`` are skipped. The file must be UTF-8 (a BOM is fine).
See docs/inventory-csv.md.
"""

from __future__ import annotations

import csv
import io
import re

from ewarn.inventory.importers import AssetRecord, ImportRejected
from ewarn.inventory.models import RowError

COLUMNS = (
    "kind",
    "name",
    "value",
    "vendor",
    "product",
    "version",
    "cpe",
    "purl",
    "udi_di",
    "clinical_criticality",
    "network_exposure",
    "location",
    "owner",
    "criticality",
    "tags",
    "serial",
    "category",
    "care_dependency",
    "supports",
)
_ENUM_COLUMNS = frozenset(
    {"kind", "clinical_criticality", "network_exposure", "criticality", "category", "care_dependency"}
)
_TAG_SEPARATOR = re.compile(r"[;|]")
# The longest header of every column is ~200 characters; csv's own cell limit (128 KiB) raises mid-header.
MAX_HEADER_CHARS = 4096


def parse_csv(data: bytes) -> list[AssetRecord | RowError]:
    """One record per data line (numbered as in the file), or a row error for a malformed line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected(f"the CSV file is not UTF-8 (byte {exc.start}); save it as 'CSV UTF-8'") from exc
    first_line = text.split("\n", 1)[0]
    if len(first_line) > MAX_HEADER_CHARS:
        raise ImportRejected(f"the CSV header is longer than {MAX_HEADER_CHARS} characters")
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out: list[AssetRecord | RowError] = []
    try:
        header = _header(next(reader, None))
        for cells in reader:
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if len(cells) > len(header):
                out.append(
                    RowError(row=reader.line_num, reason=f"{len(cells)} cells but {len(header)} columns")
                )
                continue
            out.append(AssetRecord(row=reader.line_num, data=_record(header, cells)))
    except csv.Error as exc:
        raise ImportRejected(f"CSV line {reader.line_num}: {exc}") from exc
    return out


def _header(cells: list[str] | None) -> list[str]:
    if cells is None:
        raise ImportRejected("the CSV file is empty; it needs a header row")
    header = [c.strip().lower() for c in cells]
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        # the reason goes back in the response: it names a few, shortened
        named = [c[:40] for c in unknown[:5]]
        raise ImportRejected(f"unknown CSV column(s) {named}; known columns: {', '.join(COLUMNS)}")
    if "kind" not in header:
        raise ImportRejected("the CSV header has no 'kind' column")
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        raise ImportRejected(f"CSV column(s) repeated: {duplicates}")
    return header


def _record(header: list[str], cells: list[str]) -> dict[str, object]:
    data: dict[str, object] = {}
    for column, cell in zip(header, cells, strict=False):
        value = cell.strip()
        if not value:
            continue
        if column == "tags":
            data["tags"] = [t.strip() for t in _TAG_SEPARATOR.split(value) if t.strip()]
        elif column in _ENUM_COLUMNS:
            data[column] = re.sub(r"[\s-]+", "_", value.lower())
        else:
            data[column] = value
    return data

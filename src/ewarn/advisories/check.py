"""``ewarn advisories check``: what the reader understood of each advisory, per document and in total.

For every CSAF document: each product/version expression with its verdict (exact, range, all versions,
wildcard, date, list, unreadable, model-in-version, version in name) and each vendor string with its canonical
vendor. The totals answer three questions: is every expression understood or explicitly unreadable (and so
alerted as "possibly affected"), is any free text stored as if it were one exact version, and does every
vendor resolve to a canonical vendor.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ewarn.ingest.csaf import read_advisory
from ewarn.ingest.csaf_products import Expression
from ewarn.ingest.records import load_json
from ewarn.ingest.versions import looks_like_version
from ewarn.models.indicator import RangeKind
from ewarn.names import canonical_vendor


@dataclass(frozen=True)
class VendorLine:
    """A vendor string as written and the canonical vendor it resolves to."""

    written: str
    brand: str
    group: str
    known: bool


@dataclass
class DocumentReport:
    path: str
    tracking_id: str | None = None
    error: str | None = None
    expressions: list[Expression] = field(default_factory=list)
    vendors: list[VendorLine] = field(default_factory=list)


def free_text_as_exact(expression: Expression) -> bool:
    """An exact version whose text is not a version (words, dates): what the reader must never produce."""
    return any(
        vr.kind is RangeKind.EXACT and vr.exact is not None and not looks_like_version(vr.exact)
        for vr in expression.ranges
    )


def json_files(paths: Iterable[Path]) -> list[Path]:
    """The ``.json`` files named, and those under the folders named, in a stable order."""
    out: list[Path] = []
    for path in paths:
        out += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    return out


def check_document(path: Path) -> DocumentReport:
    report = DocumentReport(path=str(path))
    try:
        reading = read_advisory(load_json(path.read_bytes()))
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        report.error = str(exc) or type(exc).__name__
        return report
    report.tracking_id = reading.tracking_id
    report.expressions = list(reading.expressions)
    for written in reading.vendors:
        name = canonical_vendor(written)
        report.vendors.append(VendorLine(written, name.brand, name.group, name.known))
    return report


def check(paths: Sequence[Path]) -> list[DocumentReport]:
    return [check_document(path) for path in json_files(paths)]


def totals(reports: Sequence[DocumentReport]) -> dict[str, Any]:
    """The figures of the whole run."""
    read = [r for r in reports if r.error is None]
    expressions = [e for r in read for e in r.expressions]
    verdicts = Counter(e.verdict for e in expressions)
    unreadable = sum(n for v, n in verdicts.items() if v.endswith("unreadable"))
    vendors = {v.written: v for r in read for v in r.vendors}
    unresolved = sorted(w for w, v in vendors.items() if not v.known)
    return {
        "documents": len(reports),
        "documents_not_read": len(reports) - len(read),
        "expressions": len(expressions),
        "understood": len(expressions) - unreadable,
        "unreadable_alerted_as_possibly_affected": unreadable,
        "free_text_stored_as_exact": sum(1 for e in expressions if free_text_as_exact(e)),
        "verdicts": dict(verdicts.most_common()),
        "vendor_strings": len(vendors),
        "vendors_resolved": len(vendors) - len(unresolved),
        "vendors_unresolved": unresolved,
    }


def as_json(reports: Sequence[DocumentReport]) -> str:
    documents = [
        {
            "path": r.path,
            "tracking_id": r.tracking_id,
            "error": r.error,
            "expressions": [
                {
                    "product_id": e.product_id,
                    "vendor": e.vendor,
                    "product": e.product,
                    "text": e.text,
                    "verdict": e.verdict,
                    "ranges": [vr.model_dump(mode="json", exclude_none=True) for vr in e.ranges],
                    "note": e.note,
                }
                for e in r.expressions
            ],
            "vendors": [v.__dict__ for v in r.vendors],
        }
        for r in reports
    ]
    return json.dumps({"documents": documents, "totals": totals(reports)}, indent=2, ensure_ascii=False)


def as_text(reports: Sequence[DocumentReport]) -> str:
    lines: list[str] = []
    for r in reports:
        if r.error is not None:
            lines.append(f"{r.path}: not read: {r.error}")
            continue
        lines.append(f"{r.tracking_id}  ({r.path})")
        for e in r.expressions:
            product = " ".join(p for p in (e.vendor, e.product) if p) or e.product_id
            text = "-" if e.text is None else f'"{e.text}"'
            lines.append(f"  {product}: {text} -> {e.verdict}" + (f"  ({e.note})" if e.note else ""))
        for v in r.vendors:
            mark = "" if v.known else "  [not in the alias table]"
            lines.append(f'  vendor "{v.written}" -> {v.brand} (group {v.group}){mark}')
    t = totals(reports)
    lines += [
        "",
        f"documents: {t['documents']} ({t['documents_not_read']} not read)",
        f"expressions: {t['expressions']}: {t['understood']} understood, "
        f"{t['unreadable_alerted_as_possibly_affected']} unreadable (alerted as possibly affected)",
        f"free text stored as an exact version: {t['free_text_stored_as_exact']}",
        "verdicts: " + ", ".join(f"{v} {n}" for v, n in t["verdicts"].items()),
        f"vendor strings: {t['vendor_strings']}, resolved {t['vendors_resolved']}"
        + (f", unresolved: {'; '.join(t['vendors_unresolved'])}" if t["vendors_unresolved"] else ""),
    ]
    return "\n".join(lines)

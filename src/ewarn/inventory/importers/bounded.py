"""Parse an import file with a cap on its rows, meant to run in a worker thread (``asyncio.to_thread``).

A CSV file's records are counted (quote-aware, nothing kept) before any is parsed, so a file over the cap
costs one pass and no row objects. JSON documents are parsed whole (their size is bounded by the API's body
cap) and their components or statements counted before they are validated or stored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from ewarn.inventory.importers import AssetRecord, ImportFormat, ImportRejected
from ewarn.inventory.importers.csaf_vex import parse_csaf_vex
from ewarn.inventory.importers.csvfile import parse_csv
from ewarn.inventory.importers.cyclonedx import parse_sbom
from ewarn.inventory.importers.cyclonedx_vex import parse_cyclonedx_vex
from ewarn.inventory.models import RowError
from ewarn.inventory.vex import VexStatement


class ImportTooLarge(ImportRejected):
    """More rows than one import may carry; nothing is applied (the API answers 413)."""

    def __init__(self, rows: int, cap: int, what: str) -> None:
        self.rows = rows
        self.cap = cap
        super().__init__(
            f"the file has {rows} {what} or more; one import takes at most {cap}: split the file"
        )


def csv_rows_over(data: bytes, cap: int) -> int | None:
    """The number of CSV records after the header once it passes ``cap`` (counting stops there), else None."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None  # the parser refuses it with the reason
    rows = -1  # the header
    try:
        for _ in csv.reader(io.StringIO(text, newline="")):
            rows += 1
            if rows > cap:
                return rows
    except csv.Error:
        return None  # the parser refuses it with the line
    return None


def _capped(parsed: Sequence[object], cap: int | None, what: str) -> None:
    if cap is not None and len(parsed) > cap:
        raise ImportTooLarge(len(parsed), cap, what)


def parse_records(data: bytes, fmt: ImportFormat, *, max_rows: int | None) -> list[AssetRecord | RowError]:
    """Asset records of a CSV or CycloneDX SBOM file; ``ImportTooLarge`` beyond ``max_rows``."""
    if fmt is ImportFormat.CSV:
        if max_rows is not None and (over := csv_rows_over(data, max_rows)) is not None:
            raise ImportTooLarge(over, max_rows, "rows")
        return parse_csv(data)
    parsed = parse_sbom(data)
    _capped(parsed, max_rows, "components")
    return parsed


def parse_statements(
    data: bytes, fmt: ImportFormat, *, max_rows: int | None
) -> list[VexStatement | RowError]:
    """VEX statements of a CycloneDX VEX or CSAF VEX document; ``ImportTooLarge`` beyond ``max_rows``."""
    parsed = parse_cyclonedx_vex(data) if fmt is ImportFormat.CYCLONEDX_VEX else parse_csaf_vex(data)
    _capped(parsed, max_rows, "statements")
    return parsed

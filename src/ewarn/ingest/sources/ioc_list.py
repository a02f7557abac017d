"""Plain IOC lists (CSV, TSV, TXT, JSON) with a declared column mapping.

Feed config (all optional):

``format``        ``csv`` | ``tsv`` | ``txt`` | ``json`` (default: from the extension, else ``txt``)
``header``        ``first_row`` | ``comment`` (the last ``#`` line before the data holds the names, as
                  abuse.ch writes them) | ``none`` (columns are 0-based indexes) | ``auto`` (default for
                  csv/tsv: ``comment`` when that line has as many cells as the first row, else ``first_row``)
``columns``       column name or index → indicator type (``ipv4``, ``url``, ``sha256``…) or ``auto``;
                  default: the first column, ``auto``. Several columns give several indicators per row.
``seen_column``   when the source first saw the row; ``label_columns``: columns whose text become labels;
``labels``        labels for every row (``c2``, ``botnet``…); ``name_column``: a name for the indicator;
``items``         for JSON: the dotted path of the list inside the document (``data.iocs``).

A cell holding several values (``hash1,hash2``, ``a; b``, a JSON list) gives one indicator per value, each
typed on its own; a value that is not an indicator is a rejection naming the line, the column and the value.
Rows whose mapped cells are all empty are counted as skipped. Every data row is read or skipped.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import Any

from ewarn.ingest import normalise
from ewarn.ingest.normalise import Observable
from ewarn.ingest.records import FeedContext, ParseResult, decode_text, load_json, parse_timestamp
from ewarn.ingest.sources import register
from ewarn.ingest.sources.base import FeedSpec
from ewarn.ingest.sources.document import DocumentSource
from ewarn.models.indicator import IndicatorType

MAX_LINE_CHARS = 64 * 1024
MAX_VALUES_PER_CELL = 1000
_NULLS = {"", "n/a", "none", "null", "-"}
_SEPARATORS = re.compile(r"[,;|\s]+")
SKIPPED_EMPTY = "row without a value in its indicator columns"
Row = dict[str, str]


def _format_of(feed: FeedSpec) -> str:
    declared = feed.config.get("format")
    if isinstance(declared, str) and declared:
        return declared.lower()
    path = feed.location.lower().split("?", 1)[0]
    for ext, fmt in ((".csv", "csv"), (".tsv", "tsv"), (".json", "json")):
        if path.endswith(ext):
            return fmt
    return "txt"


def parse_ioc_list(payload: bytes, feed: FeedSpec, ctx: FeedContext) -> ParseResult:
    """Every row of the list → indicators; a bad row is a rejection naming its line."""
    fmt = _format_of(feed)
    if fmt == "json":
        return _parse_json(payload, feed.config, ctx)
    if fmt not in ("csv", "tsv", "txt"):
        result = ParseResult(read=1)
        result.rejections.append(ctx.reject("payload", f"unknown IOC list format {fmt!r}"))
        return result
    return _parse_lines(decode_text(payload), fmt, feed.config, ctx)


def _parse_lines(text: str, fmt: str, config: dict[str, Any], ctx: FeedContext) -> ParseResult:
    result = ParseResult()
    header_mode = config.get("header", "auto" if fmt in ("csv", "tsv") else "none")
    delimiter = "\t" if fmt == "tsv" else str(config.get("delimiter", ","))
    names: list[str] | None = None
    last_comment: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(("#", "//", ";")):
            last_comment = stripped.lstrip("#/; ")
            continue
        record = f"line {number}"
        if len(line) > MAX_LINE_CHARS:
            result.read += 1
            result.rejections.append(
                ctx.reject(record, f"line longer than {MAX_LINE_CHARS} characters", line)
            )
            continue
        cells = _split(line, fmt, delimiter)
        if names is None and header_mode in ("comment", "auto") and last_comment:
            commented = _split(last_comment, fmt, delimiter)
            if header_mode == "comment" or _is_commented_header(commented, cells):
                names = commented
        if names is None and header_mode in ("first_row", "auto"):
            names = cells
            continue
        row = {name: value for name, value in zip(names or [], cells, strict=False)}
        row.update({str(index): value for index, value in enumerate(cells)})
        _take(result, _row_indicators(row, record, config, ctx, line))
    return result


def _is_commented_header(commented: list[str], first_row: list[str]) -> bool:
    """abuse.ch style: the last comment names the columns and the first row is already data (it holds an
    indicator, the comment none)."""
    if len(commented) != len(first_row) or len(first_row) < 2:
        return False
    return _holds_indicator(first_row) and not _holds_indicator(commented)


def _holds_indicator(cells: list[str]) -> bool:
    for cell in cells:
        try:
            normalise.guess(cell)
        except ValueError:
            continue
        return True
    return False


def _take(result: ParseResult, row: ParseResult) -> None:
    """One row's outcome: read when it gave indicators or rejections, else skipped as empty."""
    if row.indicators or row.rejections:
        row.read = 1
    else:
        row.skip(SKIPPED_EMPTY)
    result.extend(row)


def _split(line: str, fmt: str, delimiter: str) -> list[str]:
    if fmt == "txt":
        return [line.strip().split()[0]] if line.strip() else []
    return [cell.strip() for cell in next(csv.reader([line], delimiter=delimiter, skipinitialspace=True), [])]


def _parse_json(payload: bytes, config: dict[str, Any], ctx: FeedContext) -> ParseResult:
    result = ParseResult()
    try:
        document = load_json(payload)
        items = _items(document, str(config.get("items", "")))
    except ValueError as exc:
        result.read = 1
        result.rejections.append(ctx.reject("payload", str(exc), payload))
        return result
    for index, item in enumerate(items):
        record = f"item {index}"
        if isinstance(item, str):
            row = {"0": item, "value": item}
        elif isinstance(item, dict):
            row = {str(k): _cell(v) for k, v in item.items()}
        else:
            result.read += 1
            result.rejections.append(ctx.reject(record, f"item is a JSON {type(item).__name__}", item))
            continue
        _take(result, _row_indicators(row, record, config, ctx, item))
    return result


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def _items(document: Any, path: str) -> list[Any]:
    node = document
    for part in [p for p in path.split(".") if p]:
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f"JSON has no {path!r}")
        node = node[part]
    if not isinstance(node, list):
        raise ValueError(f"expected a JSON list at {path or 'the top level'!r}, got {type(node).__name__}")
    return node


def _column_types(config: dict[str, Any]) -> Iterator[tuple[str, str]]:
    columns = config.get("columns") or {"0": "auto"}
    if isinstance(columns, list):
        columns = {str(c): "auto" for c in columns}
    for column, type_ in dict(columns).items():
        yield str(column), str(type_)


def _row_indicators(row: Row, record: str, config: dict[str, Any], ctx: FeedContext, raw: Any) -> ParseResult:
    result = ParseResult()
    try:
        seen_at = _seen_at(row, config)
    except ValueError as exc:
        result.rejections.append(ctx.reject(record, str(exc), raw))
        return result
    raw_labels = [str(label) for label in config.get("labels") or []]
    for column in config.get("label_columns") or []:
        text = row.get(str(column), "")
        if text.lower() not in _NULLS:
            raw_labels.append(text)
    name_column = config.get("name_column")
    name = row.get(str(name_column)) if name_column is not None else None
    for column, type_ in _column_types(config):
        value = row.get(column)
        if value is None:
            result.rejections.append(ctx.reject(record, f"row has no column {column!r}", raw))
            continue
        if value.strip().lower() in _NULLS:
            continue
        for part, observable_or_error in _observables(value, type_):
            if isinstance(observable_or_error, str):
                where = f"{record} {column}" + (f" value {part!r}" if part != value else "")
                result.rejections.append(ctx.reject(where[:200], observable_or_error, value))
                continue
            result.indicators.append(
                ctx.indicator(
                    observable_or_error,
                    record=record,
                    name=name if name and name.lower() not in _NULLS else None,
                    labels=normalise.labels(raw_labels),
                    seen_at=seen_at,
                    valid_from=seen_at,
                )
            )
    return result


def _observables(value: str, type_: str) -> list[tuple[str, Observable | str]]:
    """Each value of a cell with its observable, or with why it is not one (a rejection reason).

    The cell is read whole first (a URL may hold commas); only when that fails and it holds separators is
    it read as a list, each part typed on its own.
    """
    try:
        return [(value, _observable(value, type_))]
    except ValueError as exc:
        whole = _reason(value, type_, exc)
    parts = [p for p in _SEPARATORS.split(value.strip()) if p and p.lower() not in _NULLS]
    if len(parts) < 2:
        return [(value, whole)]
    found: list[tuple[str, Observable | str]] = []
    for part in parts[:MAX_VALUES_PER_CELL]:
        try:
            found.append((part, _observable(part, type_)))
        except ValueError as exc:
            found.append((part, _reason(part, type_, exc)))
    if all(isinstance(outcome, str) for _part, outcome in found):
        return [(value, whole)]  # not a list of values, just not an indicator
    if len(parts) > MAX_VALUES_PER_CELL:
        found.append(
            (value, f"cell holds {len(parts)} values; only the first {MAX_VALUES_PER_CELL} are read")
        )
    return found


def _observable(value: str, type_: str) -> Observable:
    if type_ == "auto":
        return normalise.guess(value)
    try:
        kind = IndicatorType(type_)
    except ValueError:
        raise ValueError(f"the feed config declares an unknown indicator type {type_!r}") from None
    return normalise.of_type(kind, value)


def _reason(value: str, type_: str, exc: ValueError) -> str:
    """Why a value is not an indicator, in the operator's terms (auto-detection tried every type)."""
    if type_ == "auto":
        return f"{value[:80]!r} is not an IP address, network, URL, e-mail address, hash, ASN or domain name"
    return f"not a valid {type_}: {exc}"


def _seen_at(row: Row, config: dict[str, Any]) -> Any:
    column = config.get("seen_column")
    if column is None:
        return None
    text = row.get(str(column), "")
    return parse_timestamp(text.replace(" ", "T", 1)) if text and text.lower() not in _NULLS else None


SOURCE = register(DocumentSource(kind="ioc_list", parser=parse_ioc_list))

"""Plain IOC lists (CSV, TSV, TXT, JSON) with a declared column mapping.

Feed config (all optional):

``format``        ``csv`` | ``tsv`` | ``txt`` | ``json`` (default: from the extension, else ``txt``)
``header``        ``first_row`` (default for csv/tsv) | ``comment`` (the last ``#`` line before the data
                  holds the names, as abuse.ch writes them) | ``none`` (columns are 0-based indexes)
``columns``       column name or index → indicator type (``ipv4``, ``url``, ``sha256``…) or ``auto``;
                  default: the first column, ``auto``. Several columns give several indicators per row.
``seen_column``   when the source first saw the row; ``label_columns``: columns whose text become labels;
``labels``        labels for every row (``c2``, ``botnet``…); ``name_column``: a name for the indicator;
``items``         for JSON: the dotted path of the list inside the document (``data.iocs``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from ewarn.ingest import normalise
from ewarn.ingest.records import FeedContext, ParseResult, decode_text, load_json, parse_timestamp
from ewarn.ingest.sources import register
from ewarn.ingest.sources.base import FeedSpec
from ewarn.ingest.sources.document import DocumentSource

MAX_LINE_CHARS = 64 * 1024
_NULLS = {"", "n/a", "none", "null", "-"}
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
    header_mode = config.get("header", "first_row" if fmt in ("csv", "tsv") else "none")
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
        if names is None and header_mode == "comment" and last_comment:
            names = _split(last_comment, fmt, delimiter)
        if names is None and header_mode == "first_row":
            names = cells
            continue
        result.read += 1
        row = {name: value for name, value in zip(names or [], cells, strict=False)}
        row.update({str(index): value for index, value in enumerate(cells)})
        result.extend(_row_indicators(row, record, config, ctx, line))
    return result


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
        result.read += 1
        if isinstance(item, str):
            row = {"0": item, "value": item}
        elif isinstance(item, dict):
            row = {str(k): _cell(v) for k, v in item.items()}
        else:
            result.rejections.append(ctx.reject(record, f"item is a JSON {type(item).__name__}", item))
            continue
        result.extend(_row_indicators(row, record, config, ctx, item))
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
        try:
            observable = normalise.guess(value) if type_ == "auto" else normalise.of_type(type_, value)
        except ValueError as exc:
            result.rejections.append(ctx.reject(f"{record} {column}", str(exc), value))
            continue
        result.indicators.append(
            ctx.indicator(
                observable,
                record=record,
                name=name if name and name.lower() not in _NULLS else None,
                labels=normalise.labels(raw_labels),
                seen_at=seen_at,
                valid_from=seen_at,
            )
        )
    return result


def _seen_at(row: Row, config: dict[str, Any]) -> Any:
    column = config.get("seen_column")
    if column is None:
        return None
    text = row.get(str(column), "")
    return parse_timestamp(text.replace(" ", "T", 1)) if text and text.lower() not in _NULLS else None


SOURCE = register(DocumentSource(kind="ioc_list", parser=parse_ioc_list))

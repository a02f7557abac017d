"""What every parser shares: the feed it reads for, its result, payload decoding and rejections."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from ewarn.ingest.normalise import Observable
from ewarn.models.common import TLP, text_problem, utcnow
from ewarn.models.indicator import Indicator, Rejection, SourceRef
from ewarn.textsafe import excerpt as printable_excerpt

EXCERPT_CHARS = 500


@dataclass(frozen=True)
class FeedContext:
    """The feed a payload belongs to; parsers name it in every rejection."""

    feed_id: str
    feed_kind: str
    default_tlp: TLP = TLP.CLEAR
    now: datetime = field(default_factory=utcnow)

    def reject(self, record: str, reason: str, excerpt: Any = None) -> Rejection:
        """A rejection whose reason names the feed and the record, so an operator can find both."""
        record = record.strip() or "(unnamed record)"
        return Rejection(
            feed_id=self.feed_id,
            feed_kind=self.feed_kind,
            record=record[:500],
            reason=f"feed {self.feed_id}: record {record[:200]}: {reason}"[:2000],
            excerpt=excerpt_of(excerpt),
            rejected_at=self.now,
        )

    def indicator(self, observable: Observable, *, record: str, **fields: Any) -> Indicator:
        """An Indicator for ``observable`` read from ``record`` of this feed."""
        seen_at = fields.pop("seen_at", None)
        fields.setdefault("tlp", self.default_tlp)
        return Indicator(
            key=observable.key,
            type=observable.type,
            value=observable.value,
            url_host=observable.url_host,
            source=SourceRef(
                feed_id=self.feed_id, feed_kind=self.feed_kind, record=record[:500], seen_at=seen_at
            ),
            sources=[self.feed_id],
            **fields,
        )


@dataclass
class ParseResult:
    """Indicators and rejections from one payload.

    ``read`` counts the records taken up (each gave indicators or a rejection), ``skipped`` the records
    deliberately left out; ``read + skipped`` is every record of the payload. ``counts`` holds what was
    skipped or noted, by reason ("context attribute (to_ids false)", "unreadable version expression", ...),
    so nothing a parser leaves out vanishes silently.
    """

    indicators: list[Indicator] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    read: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    # STIX ``sighting`` objects, each with the objects it references, for the sighting relay (issue 15)
    sightings: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: ParseResult) -> None:
        self.indicators.extend(other.indicators)
        self.sightings.extend(other.sightings)
        self.rejections.extend(other.rejections)
        self.read += other.read
        self.counts.update(other.counts)
        self.skipped += other.skipped

    def skip(self, reason: str, count: int = 1) -> None:
        """``count`` records left out on purpose, counted under ``reason`` (neither read nor rejected)."""
        self.skipped += count
        self.counts[reason] += count

    def note(self, reason: str, count: int = 1) -> None:
        """Something about records that were read, worth counting in feed health (not a skip)."""
        self.counts[reason] += count

    def contain_unstorable(self) -> None:
        """Turn every indicator holding text that cannot be stored or sent on into a rejection of its record.

        A lone surrogate (a JSON escape) or NUL in any text of an indicator made the whole page fail at store
        or publish time (PostgreSQL refuses NUL, JSON encoders refuse lone surrogates): nothing of the page
        was kept and no reason given. Every parser's result passes here (``Page.of``), so only the bad record
        is refused and its neighbours flow.
        """
        kept: list[Indicator] = []
        refused: set[tuple[str, str, str]] = set()
        for indicator in self.indicators:
            found = unstorable_text(indicator)
            if found is None:
                kept.append(indicator)
                continue
            where, problem, value = found
            source = indicator.source
            if (source.feed_id, source.record, where) in refused:
                continue  # one record's several observables share the bad text: one rejection
            refused.add((source.feed_id, source.record, where))
            ctx = FeedContext(feed_id=source.feed_id, feed_kind=source.feed_kind)
            self.rejections.append(ctx.reject(source.record, f"{where} {problem}", printable_excerpt(value)))
        self.indicators = kept


# Identifiers and observables: anything text_problem refuses (lone surrogates, NUL, control characters).
_BAD_ONE_LINE = re.compile("[\ud800-\udfff\x00-\x1f\x7f-\x9f]")
# Free text: only what cannot be stored or encoded. Other control characters are storable and real feeds
# carry them (CrowdSec MISP comments quote raw payloads with \x03, \x06): refusing them would drop good IOCs.
_BAD_FREE_TEXT = re.compile("[\ud800-\udfff\x00]")
_ONE_LINE_FIELDS = ("key", "value", "url_host", "stix_id")
_FREE_TEXT_FIELDS = ("name", "description")


def unstorable_text(indicator: Indicator) -> tuple[str, str, str] | None:
    """(field, why, the text) for the first text of ``indicator`` that must not be stored; None when all is fine.

    Identifiers and observables must be one clean line; names, descriptions and an advisory's texts must
    hold no lone surrogate and no NUL. Checked on every indicator of every page, so the common case is two
    regex searches over joined text.
    """
    one_line = [getattr(indicator, name) or "" for name in _ONE_LINE_FIELDS]
    one_line += [indicator.source.record, *indicator.labels, *indicator.cves, *indicator.sources]
    free = [indicator.name or "", indicator.description or ""]
    if _BAD_ONE_LINE.search("".join(one_line)) or _BAD_FREE_TEXT.search("".join(free)):
        named = [*zip(_ONE_LINE_FIELDS, one_line, strict=False), ("source.record", indicator.source.record)]
        named += [("labels", v) for v in indicator.labels] + [("cves", v) for v in indicator.cves]
        named += [("sources", v) for v in indicator.sources]
        for where, value in named:
            problem = text_problem(value)
            if problem is not None:
                return where, problem, value
        for where, value in zip(_FREE_TEXT_FIELDS, free, strict=True):
            problem = _free_text_problem(value)
            if problem is not None:
                return where, problem, value
    vulnerability = indicator.vulnerability
    if vulnerability is None:
        return None
    try:  # one C-speed encode answers for the whole advisory: it refuses lone surrogates, escapes NUL
        clean = b"\\u0000" not in vulnerability.model_dump_json().encode()
    except PydanticSerializationError:
        clean = False
    return None if clean else _first_unstorable(vulnerability, "vulnerability")


def _free_text_problem(value: str) -> str | None:
    return text_problem(value, free_text=True) if _BAD_FREE_TEXT.search(value) else None


def _first_unstorable(node: Any, where: str) -> tuple[str, str, str] | None:
    if isinstance(node, str):
        problem = _free_text_problem(node)
        return (where, problem, node) if problem is not None else None
    if isinstance(node, BaseModel):
        items: Any = ((f"{where}.{name}", getattr(node, name)) for name in type(node).model_fields)
    elif isinstance(node, list | tuple):
        items = ((f"{where}[{index}]", value) for index, value in enumerate(node))
    else:
        return None
    for path, value in items:
        found = _first_unstorable(value, path)
        if found is not None:
            return found
    return None


def excerpt_of(value: Any) -> str | None:
    """A short printable excerpt of a bad record, for the operator; never the whole giant field."""
    if value is None:
        return None
    if isinstance(value, bytes):
        text = value[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str)[: EXCERPT_CHARS * 2]
        except (TypeError, ValueError):
            text = repr(value)
    return text[:EXCERPT_CHARS]


def decode_text(payload: bytes) -> str:
    """UTF-8 (a BOM is dropped); bytes that are not UTF-8 are read as Latin-1, which never fails."""
    if payload.startswith(b"\xef\xbb\xbf"):
        payload = payload[3:]
    elif payload.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return payload.decode("utf-16")
        except UnicodeDecodeError:
            return payload.decode("latin-1")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")


def load_json(payload: bytes | str) -> Any:
    """Parse JSON; ``ValueError`` with the position when it is truncated or malformed."""
    text = decode_text(payload) if isinstance(payload, bytes) else payload.lstrip("\ufeff")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


# Untrusted JSON: a producer may put any type anywhere, so parsers read containers through these.
RECORD_ERRORS = (ValueError, TypeError, AttributeError, KeyError, RecursionError)


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def describe(exc: BaseException) -> str:
    """A rejection reason for an unexpected shape: the exception's type and message."""
    return str(exc) if isinstance(exc, ValueError) else f"unexpected structure ({type(exc).__name__}: {exc})"


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as aware UTC (naive means UTC); ``ValueError`` when it is not one."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"timestamp is not a string: {excerpt_of(value)!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 timestamp: {value[:60]!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

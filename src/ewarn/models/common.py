"""Types shared by several models."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer


def utcnow() -> datetime:
    """Timezone-aware now, the only clock ewarn uses."""
    return datetime.now(UTC)


UtcDatetime = Annotated[
    AwareDatetime,
    PlainSerializer(lambda v: v.astimezone(UTC).isoformat().replace("+00:00", "Z"), return_type=str),
]


class TLP(StrEnum):
    """Traffic Light Protocol 2.0 (TLP 1.0 WHITE maps to CLEAR)."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @property
    def rank(self) -> int:
        return _TLP_RANK[self]


_TLP_RANK = {TLP.CLEAR: 0, TLP.GREEN: 1, TLP.AMBER: 2, TLP.AMBER_STRICT: 3, TLP.RED: 4}


class Contract(BaseModel):
    """Base of every message model: strict about unknown fields so drift is caught early."""

    model_config = ConfigDict(extra="forbid", frozen=False, use_enum_values=False)


# --- Text that is safe to store and to send back -------------------------------------------------------------
# A lone surrogate cannot be encoded as UTF-8 (stored, then every response naming it fails), PostgreSQL refuses
# NUL in text and JSON, and control characters forge log lines and terminal output. So edge models reject
# them here, before anything is written. Tab, line feed and carriage return are allowed only in free text.

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_FREE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The same rules in the OpenAPI description (ECMA-262 regex), so generated clients and fuzzers know them.
ONE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
FREE_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
_COUNTRY = re.compile(r"[A-Z]{2}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,4})?")
SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"


def text_problem(value: str, *, free_text: bool = False) -> str | None:
    """Why ``value`` must not be stored (None when it is fine)."""
    if _SURROGATE.search(value):
        return "contains a lone surrogate (not valid Unicode)"
    if "\x00" in value:
        return "contains a NUL character"
    if (_CONTROL_FREE_TEXT if free_text else _CONTROL_ONE_LINE).search(value):
        return "contains a control character" if free_text else "contains a control character or line break"
    return None


def checked_text(value: str, *, free_text: bool = False) -> str:
    """``value`` unchanged, or ``ValueError`` saying why it cannot be stored."""
    problem = text_problem(value, free_text=free_text)
    if problem is not None:
        raise ValueError(problem)
    return value


ONE_LINE = AfterValidator(lambda value: checked_text(value))
FREE_TEXT = AfterValidator(lambda value: checked_text(value, free_text=True))


def text_limits(max_length: int, *, min_length: int = 0, free_text: bool = False) -> Any:
    """Length bounds plus the character rule in the OpenAPI description: ``Annotated[str, text_limits(n), ONE_LINE]``."""
    pattern = FREE_TEXT_PATTERN if free_text else ONE_LINE_PATTERN
    return Field(min_length=min_length, max_length=max_length, json_schema_extra={"pattern": pattern})


def _country(value: str) -> str:
    # Codes are checked after normalising: "ßx".upper() is "SSX", three letters.
    upper = value.strip().upper()
    if not _COUNTRY.fullmatch(upper):
        raise ValueError("an ISO 3166-1 alpha-2 country code is two letters A-Z")
    return upper


def _language(value: str) -> str:
    if not _LANGUAGE.fullmatch(value):
        raise ValueError("a language tag such as 'en' or 'de-CH'")
    return value


CountryCode = Annotated[
    str, Field(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$"), AfterValidator(_country)
]
LanguageTag = Annotated[  # stored in 8 characters: "de", "de-CH", "sr-Latn"
    str,
    Field(min_length=2, max_length=8, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,4})?$"),
    AfterValidator(_language),
]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]  # provider and CSIRT ids
Name = Annotated[str, text_limits(200, min_length=1), ONE_LINE]
ShortText = Annotated[str, text_limits(200), ONE_LINE]
Label = Annotated[str, text_limits(64, min_length=1), ONE_LINE]  # tags, indicator types


def json_problem(value: Any, *, max_depth: int = 10, max_items: int = 10_000) -> str | None:
    """Why free-form JSON (a feed's config, say) cannot be stored: bad text in a key or a string, nested too
    deep, too many values. The reason never repeats the offending text."""
    seen = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > max_items:
            return f"more than {max_items} values"
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        if isinstance(node, str):
            why = text_problem(node, free_text=True)
            if why is not None:
                return f"a string {why}"
        elif isinstance(node, dict):
            for key, item in node.items():
                why = text_problem(str(key))
                if why is not None:
                    return f"a key {why}"
                stack.append((item, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
    return None


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(value: str) -> str:
    """``value`` with NUL and lone surrogates replaced by U+FFFD: for text ewarn keeps about what it refused
    (a rejection's excerpt), which must be storable in PostgreSQL and encodable in a response."""
    return _UNSTORABLE.sub("\ufffd", value)

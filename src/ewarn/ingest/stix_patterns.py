"""STIX patterns → the comparisons they make: a small reader for the common shapes, the OASIS grammar for the rest.

Why a second reader: the ANTLR parser of stix2-patterns costs about 0.7 ms of CPU per comparison (measured
with ``bench/ingest_bench.py``: the one feeds2stix CobaltStrike indicator, 96 hash comparisons OR-ed, took
65 ms of the 77 ms all five bundles took, and a 200-indicator push bundle spent half its parse there). The
reader takes a subset of the grammar and gives exactly the grammar's answer; anything outside the subset
(``None``) goes to the grammar:

- observation expressions ``[ … ]`` joined by ``AND``, ``OR`` or ``FOLLOWEDBY``, in parentheses or not,
  without qualifiers (``WITHIN``, ``START``, ``REPEATS``);
- inside, comparisons joined by ``AND`` or ``OR``, each ``<object-type>:<path> = '<string>'`` or
  ``… ISSUBSET '<string>'``; the path is an identifier, then ``.identifier`` or ``.'quoted'`` steps.

Tokens are read as the grammar's lexer reads them (longest match; keywords, which are case-sensitive, before
identifiers; string literals with only ``\\'`` and ``\\\\`` escapes); whitespace other than space, tab, CR
and LF, comments, numbers, ``NOT`` and any other operator send the pattern to the grammar.
``tests/unit/test_stix_patterns.py`` checks the reader against the grammar (both 2.0 and 2.1) with
hypothesis and on every pattern of the shared STIX data.

One difference on purpose: a long flat OR-chain (about 900 comparisons and more) exhausts the interpreter's
recursion limit inside the ANTLR runtime, which then rejects a pattern the grammar accepts; the reader
parses it (the test compares it with the grammar run on a deeper stack).
"""

from __future__ import annotations

import re

from stix2patterns.exceptions import ParseException
from stix2patterns.v20.pattern import Pattern as Pattern20
from stix2patterns.v21.pattern import Pattern as Pattern21

Comparison = tuple[str, list[str], str]

_SUPPORTED_OPS = {"=", "ISSUBSET"}
# The grammar's keywords (case-sensitive); ``EXISTS`` is one in 2.1 only
_KEYWORDS = frozenset(
    {"AND", "OR", "NOT", "FOLLOWEDBY", "LIKE", "MATCHES", "ISSUPERSET", "ISSUBSET", "EXISTS"}
)
_KEYWORDS |= {"LAST", "IN", "START", "STOP", "SECONDS", "true", "false", "WITHIN", "REPEATS", "TIMES"}
_COMPARISON_JOINS = frozenset({"AND", "OR"})
_OBSERVATION_JOINS = frozenset({"AND", "OR", "FOLLOWEDBY"})
_MAX_PARENS = 32  # deeper nesting goes to the grammar (and its recursion guard)
# One token after optional whitespace: a string literal, an identifier (hyphens allowed: object types), an
# operator or bracket. ``==`` is read whole so that it is not taken for ``=``.
_TOKEN = re.compile(
    r"[ \t\r\n]*+(?:(?P<s>'(?:[^'\\]++|\\['\\])*+')|(?P<i>[A-Za-z_][A-Za-z0-9_-]*+)|(?P<p>==|[=\[\]():.]))"
)
_STRING, _IDENT, _PUNCT = "s", "i", "p"
# The commonest shape, one comparison (``[ipv4-addr:value = '…']``, ``[file:hashes.'SHA-256' = '…']``), in one
# match: the same tokens as above, a fifth of the token loop's cost.
_ONE_COMPARISON = re.compile(
    r"[ \t\r\n]*+\[[ \t\r\n]*+([A-Za-z_][A-Za-z0-9_-]*+)[ \t\r\n]*+:[ \t\r\n]*+([A-Za-z_][A-Za-z0-9_]*+)"
    r"(?:[ \t\r\n]*+\.[ \t\r\n]*+('(?:[^'\\]++|\\['\\])*+'|[A-Za-z_][A-Za-z0-9_]*+))?"
    r"[ \t\r\n]*+(=|ISSUBSET(?![A-Za-z0-9_-]))[ \t\r\n]*+('(?:[^'\\]++|\\['\\])*+')[ \t\r\n]*+\][ \t\r\n]*+"
)


def pattern_comparisons(pattern: str, spec_version: str = "2.1") -> list[Comparison]:
    """Every positive comparison in a STIX pattern as (object type, property path, literal value).

    OR-chains and several observations yield several comparisons; negations and operators other than
    ``=`` and ``ISSUBSET`` are left out, since they do not name an observable. ``ValueError`` when the pattern
    does not parse under either grammar.
    """
    found = read_simple_pattern(pattern)
    return found if found is not None else grammar_comparisons(pattern, spec_version)


def grammar_comparisons(pattern: str, spec_version: str = "2.1") -> list[Comparison]:
    """``pattern_comparisons`` through the OASIS grammar only (stix2-patterns)."""
    parsers = (Pattern21, Pattern20) if spec_version != "2.0" else (Pattern20, Pattern21)
    first_error: str | None = None
    for parser in parsers:
        try:
            data = parser(pattern).inspect()
        except ParseException as exc:
            first_error = first_error or str(exc)
            continue
        except RecursionError as exc:
            raise ValueError("pattern nests too deeply for the STIX pattern parser") from exc
        found: list[Comparison] = []
        for object_type, items in data.comparisons.items():
            for path, op, literal in items:
                if op in _SUPPORTED_OPS:
                    found.append((object_type, [str(p) for p in path], _unquote(literal)))
        return found
    raise ValueError(f"invalid STIX pattern: {first_error}")


def _unquote(literal: str) -> str:
    if len(literal) >= 2 and literal[0] == literal[-1] == "'":
        return literal[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    return literal


def _tokens(pattern: str) -> list[tuple[str, str]] | None:
    """(kind, text) of every token, or None at the first character outside the reader's tokens."""
    out: list[tuple[str, str]] = []
    pos = 0
    match = _TOKEN.match
    while True:
        found = match(pattern, pos)
        if found is None:
            return out if not pattern[pos:].strip(" \t\r\n") else None
        kind = found.lastgroup
        assert kind is not None  # one of the three groups matched
        out.append((kind, found.group(kind)))
        pos = found.end()


def read_simple_pattern(pattern: str) -> list[Comparison] | None:
    """The grammar's comparisons for a pattern of the common shapes (module docstring); None for the rest."""
    one = _ONE_COMPARISON.fullmatch(pattern)
    if one is not None:
        object_type, first, step, _operator, value = one.groups()
        if object_type in _KEYWORDS or first in _KEYWORDS or step in _KEYWORDS:
            return None
        path = [first] if step is None else [first, _unquote(step)]
        return [(object_type, path, _unquote(value))]
    tokens = _tokens(pattern)
    if not tokens:
        return None
    by_type: dict[str, list[tuple[list[str], str]]] = {}
    at = _observations(tokens, 0, 0, by_type)
    if at != len(tokens):
        return None
    return [(object_type, path, value) for object_type, items in by_type.items() for path, value in items]


def _observations(
    tokens: list[tuple[str, str]], at: int, depth: int, by_type: dict[str, list[tuple[list[str], str]]]
) -> int:
    """Observation expressions joined by AND/OR/FOLLOWEDBY from ``at``; the index after them, or -1."""
    while True:
        if at >= len(tokens):
            return -1
        token = tokens[at]
        if token == (_PUNCT, "["):
            at = _comparisons(tokens, at + 1, by_type)
            if at < 0 or at >= len(tokens) or tokens[at] != (_PUNCT, "]"):
                return -1
            at += 1
        elif token == (_PUNCT, "(") and depth < _MAX_PARENS:
            at = _observations(tokens, at + 1, depth + 1, by_type)
            if at < 0 or at >= len(tokens) or tokens[at] != (_PUNCT, ")"):
                return -1
            at += 1
        else:
            return -1
        if at < len(tokens) and tokens[at][0] == _IDENT and tokens[at][1] in _OBSERVATION_JOINS:
            at += 1
            continue
        return at


def _comparisons(
    tokens: list[tuple[str, str]], at: int, by_type: dict[str, list[tuple[list[str], str]]]
) -> int:
    """Comparisons joined by AND/OR from ``at``; the index after them, or -1."""
    count = len(tokens)
    while True:
        # <object-type> : <identifier>
        if at + 3 > count:
            return -1
        (kind, object_type), colon, (first_kind, first) = tokens[at : at + 3]
        if kind != _IDENT or object_type in _KEYWORDS or colon != (_PUNCT, ":"):
            return -1
        if first_kind != _IDENT or first in _KEYWORDS or "-" in first:
            return -1
        path = [first]
        at += 3
        # ( . <identifier> | . '<quoted>' )*
        while at + 1 < count and tokens[at] == (_PUNCT, "."):
            step_kind, step = tokens[at + 1]
            if step_kind == _STRING:
                path.append(_unquote(step))
            elif step_kind == _IDENT and step not in _KEYWORDS and "-" not in step:
                path.append(step)
            else:
                return -1
            at += 2
        # = '<string>' | ISSUBSET '<string>'
        if at + 2 > count:
            return -1
        operator, (value_kind, value) = tokens[at], tokens[at + 1]
        if operator not in ((_PUNCT, "="), (_IDENT, "ISSUBSET")) or value_kind != _STRING:
            return -1
        by_type.setdefault(object_type, []).append((path, _unquote(value)))
        at += 2
        if at < count and tokens[at][0] == _IDENT and tokens[at][1] in _COMPARISON_JOINS:
            at += 1
            continue
        return at

"""The fast STIX pattern reader against the OASIS grammar (stix2-patterns): the same comparisons or no answer.

``read_simple_pattern`` may decline any pattern (None: the grammar reads it); whenever it answers, the grammar,
asked as ``pattern_comparisons`` would ask it for a 2.0 and for a 2.1 object, must give exactly that answer,
and must not reject the pattern. Patterns come from the shared STIX data, from a generator of the reader's
shapes and their near misses (keywords as names, odd whitespace, escapes, other operators, qualifiers), and
from random damage to those.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ewarn.ingest.stix_patterns import (
    Comparison,
    grammar_comparisons,
    pattern_comparisons,
    read_simple_pattern,
)

SPECS = ("2.0", "2.1")


def _grammar(pattern: str, spec: str) -> list[Comparison] | str:
    try:
        return grammar_comparisons(pattern, spec)
    except ValueError as exc:
        return f"rejected: {exc}"


def assert_agrees(pattern: str) -> list[Comparison] | None:
    fast = read_simple_pattern(pattern)
    if fast is not None:
        for spec in SPECS:
            assert _grammar(pattern, spec) == fast, (pattern, spec)
    return fast


# --- shared data -----------------------------------------------------------------------------------------------


def _patterns_in(value: Any, out: dict[str, bool]) -> None:
    """Every ``pattern`` string under ``value``: True for a STIX indicator's, False for others'."""
    if isinstance(value, dict):
        if isinstance(value.get("pattern"), str):
            is_indicator = value.get("type") == "indicator"
            out[value["pattern"]] = out.get(value["pattern"], False) or is_indicator
        for item in value.values():
            _patterns_in(item, out)
    elif isinstance(value, list):
        for item in value:
            _patterns_in(item, out)


def test_every_pattern_of_the_shared_data(shared_data: Path) -> None:
    """Every ``pattern`` string of every JSON file (STIX indicators, and JSON Schema regexes as near-garbage)."""
    patterns: dict[str, bool] = {}
    feeds: dict[str, bool] = {}
    for path in sorted(shared_data.rglob("*.json")):
        try:
            document = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError):
            continue
        _patterns_in(document, feeds if "feeds2stix-dogesec" in path.parts else patterns)
    assert len(feeds) > 100 and all(feeds.values())
    for pattern in patterns:
        assert_agrees(pattern)
    # every indicator of the feeds2stix bundles takes the fast way (the 96-hash OR-chain among them)
    assert all(assert_agrees(pattern) is not None for pattern in feeds)


# --- generated patterns ----------------------------------------------------------------------------------------
# Each choice site has the reader's shapes (first list) and near misses (second). A pattern takes near misses at
# no more than two kinds of site, so most patterns are in or just beside the reader's shapes.

SITES: dict[str, tuple[list[str], list[str]]] = {
    "space": (
        ["", " ", "  ", "\t", "\n", "\r\n"],
        ["\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "/**/", "// x\n"],
    ),
    "type": (
        [
            "ipv4-addr",
            "ipv6-addr",
            "domain-name",
            "url",
            "file",
            "x509-certificate",
            "email-addr",
            "x-c_t",
            "_x",
        ],
        [
            *("AND", "OR", "IN", "true", "false", "EXISTS", "ISSUBSET", "FOLLOWEDBY", "NOT", "LIKE", "TIMES"),
            *("and", "True", "ipv4-", "4ipv", "ipv4 addr", "b", "t", "h", "-x", "x.y", "x'y'", "é"),
        ],
    ),
    "name": (
        ["value", "hashes", "number", "name", "dst_ref", "MD5", "SHA256", "v4", "_v", "a_b"],
        ["IN", "OR", "true", "NOT", "EXISTS", "x-y", "0", "9a", "-", "value-", "[*]", "[0]", "'q'", "é"],
    ),
    "operator": (
        ["=", "ISSUBSET"],
        ["==", "!=", "<>", "NOT =", "ISSUPERSET", "LIKE", "MATCHES", "<", "IN", "= ="],
    ),
    "join": (["OR", "AND"], ["or", "And", "FOLLOWEDBY", "OR NOT", ",", "ORx", "AND-", ""]),
    "observation join": (["OR", "AND", "FOLLOWEDBY"], ["or", "AND NOT", "WITHIN", "ORx", "", "followedby"]),
    "qualifier": (
        [""],
        [
            " WITHIN 5 SECONDS",
            " REPEATS 2 TIMES",
            " START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'",
        ],
    ),
    "literal prefix": ([""], ["b", "h", "t", "x"]),
    "value": (["'…'"], ["1", "-1", "+1", "1.5", "true", "('a', 'b')", "'a", "", "''''"]),
    "escaping": (["escaped"], ["raw"]),
}
LITERAL_PIECES = st.sampled_from(
    [
        *("1.2.3.4", "2001:db8::1", "example.org", "http://x.example/a?b=c&d", "ab" * 20, "SHA-256"),
        *("'", "\\", "\\'", "\\\\", "\\x", "\x00", "\ud800", "\u00e9", "\n", "]", " OR ", "[", "/*", "//"),
    ]
)


class Chooser:
    """Draws at named choice sites; at the sites named in ``missed`` it may take a near miss."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.missed = set(draw(st.lists(st.sampled_from(sorted(SITES)), max_size=2)))

    def __call__(self, name: str) -> str:
        shapes, near_misses = SITES[name]
        miss = name in self.missed and self.draw(st.booleans())
        return self.draw(st.sampled_from(near_misses if miss else shapes))

    def literal(self) -> str:
        if (value := self("value")) != "'…'":
            return value
        body = "".join(self.draw(st.lists(LITERAL_PIECES | st.text(max_size=6), max_size=5)))
        if self("escaping") == "escaped":
            body = body.replace("\\", "\\\\").replace("'", "\\'")
        return f"{self('literal prefix')}'{body}'"

    def path(self) -> str:
        out = self("name")
        for _ in range(self.draw(st.integers(0, 2))):
            step = self.literal() if self.draw(st.booleans()) else self("name")
            out += f"{self('space')}.{self('space')}{step}"
        return out

    def comparison(self) -> str:
        s = self
        return f"{s('type')}{s('space')}:{s('space')}{s.path()}{s('space')} {s('operator')} {s('space')}{s.literal()}"

    def observation(self, depth: int) -> str:
        if depth < 2 and self.draw(st.integers(0, 4)) == 0:
            return f"({self('space')}{self.observations(depth + 1)}{self('space')}){self('qualifier')}"
        items = [self.comparison() for _ in range(self.draw(st.integers(1, 3)))]
        joined = items[0] + "".join(f" {self('join')} {item}" for item in items[1:])
        return f"[{self('space')}{joined}{self('space')}]{self('qualifier')}"

    def observations(self, depth: int = 0) -> str:
        items = [self.observation(depth) for _ in range(self.draw(st.integers(1, 3)))]
        return items[0] + "".join(f"{self('space')} {self('observation join')} {item}" for item in items[1:])


@st.composite
def patterns(draw: st.DrawFn) -> str:
    return Chooser(draw).observations()


@st.composite
def damaged(draw: st.DrawFn) -> str:
    """A generated pattern with a few characters cut, doubled or replaced."""
    pattern = draw(patterns())
    for _ in range(draw(st.integers(1, 3))):
        if not pattern:
            break
        at = draw(st.integers(0, len(pattern) - 1))
        edit = draw(st.sampled_from(["cut", "double", "replace"]))
        if edit == "cut":
            pattern = pattern[:at] + pattern[at + 1 :]
        elif edit == "double":
            pattern = pattern[: at + 1] + pattern[at:]
        else:
            pattern = pattern[:at] + draw(st.sampled_from("[]()':.=\\ -_aZ0\t\x00")) + pattern[at + 1 :]
    return pattern


PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(patterns())
@example("[ipv4-addr:value\x1c= '1.2.3.4']")  # Python's \s takes \x1c; the grammar does not
@example("[file:hashes.IN = '" + "ab" * 20 + "']")  # a keyword as a property name
@example("[true:value = 'x']")
@example("[url:value = 'http://x.example/it\\'s' OR url:value = 'a\\\\b']")
@example("([file:hashes.'SHA-256' = '" + "ab" * 32 + "'] OR [file:hashes.MD5 = '" + "cd" * 16 + "'])")
def test_generated_patterns_agree_with_the_grammar(pattern: str) -> None:
    event("read by the fast reader" if assert_agrees(pattern) is not None else "left to the grammar")


@PROPERTY
@given(damaged())
def test_damaged_patterns_agree_with_the_grammar(pattern: str) -> None:
    event("read by the fast reader" if assert_agrees(pattern) is not None else "left to the grammar")


# One template with a slot for every kind of site: each near miss (and each shape) in each slot in turn, the
# other slots at their first shape. Systematic where the generator above is random.
TEMPLATE = (
    "({space}[{space}{type}{space}:{space}{name}{space}.{space}{name} {operator} {literal prefix}'a\\'b'"
    " {join} url:value = 'x'{space}]{qualifier} {observation join} [ipv4-addr:value = '1.2.3.4']{space})"
)
SLOTS = [name for name in SITES if "{" + name + "}" in TEMPLATE]


def _fill(template: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


@pytest.mark.parametrize("site", SLOTS)
def test_every_choice_at_every_site(site: str) -> None:
    defaults = {name: SITES[name][0][0] for name in SLOTS}
    shapes, near_misses = SITES[site]
    pieces = TEMPLATE.split("{" + site + "}")
    answered = 0
    for slot in range(1, len(pieces)):  # each occurrence of the site on its own
        for choice in [*shapes, *near_misses]:
            values = [choice if n == slot else shapes[0] for n in range(1, len(pieces))]
            pattern = pieces[0] + "".join(v + piece for v, piece in zip(values, pieces[1:], strict=True))
            answered += assert_agrees(_fill(pattern, defaults)) is not None
    assert answered >= 1  # the reader's shapes are read


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        pytest.param(
            "[ipv4-addr:value = '203.0.113.7']", [("ipv4-addr", ["value"], "203.0.113.7")], id="ipv4"
        ),
        pytest.param(
            "[file:hashes.'SHA-256' = 'ab']", [("file", ["hashes", "SHA-256"], "ab")], id="quoted-hash-key"
        ),
        pytest.param(
            "[ipv4-addr:value = '1.1.1.1'] OR [domain-name:value = 'x.example'] OR [ipv4-addr:value = '2.2.2.2']",
            [
                ("ipv4-addr", ["value"], "1.1.1.1"),
                ("ipv4-addr", ["value"], "2.2.2.2"),
                ("domain-name", ["value"], "x.example"),
            ],
            id="grouped-by-type-like-the-grammar",
        ),
        pytest.param(
            "[ipv4-addr:value ISSUBSET '10.0.0.0/8']", [("ipv4-addr", ["value"], "10.0.0.0/8")], id="subset"
        ),
        pytest.param("[ipv4-addr:value = '1.1.1.1'] WITHIN 5 SECONDS", None, id="qualifier-to-grammar"),
        pytest.param("[ipv4-addr:value != '1.1.1.1']", None, id="other-operator-to-grammar"),
        pytest.param("[domain-name:value = 'x' /* c */]", None, id="comment-to-grammar"),
        pytest.param("[ipv4-addr:value = '1.1.1.1'", None, id="unbalanced"),
    ],
)
def test_reader_cases(pattern: str, expected: list[Comparison] | None) -> None:
    assert assert_agrees(pattern) == expected


# --- beyond the ANTLR runtime's recursion limit -----------------------------------------------------------------


def _grammar_on_a_deep_stack(pattern: str) -> list[Comparison] | str:
    """The grammar with room to recurse: a thread with a 512 MiB stack and a high recursion limit."""
    answer: list[list[Comparison] | str] = []
    previous_stack = threading.stack_size(512 * 1024 * 1024)
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200_000)
    try:
        worker = threading.Thread(target=lambda: answer.append(_grammar(pattern, "2.1")))
        worker.start()
        worker.join()
    finally:
        sys.setrecursionlimit(previous_limit)
        threading.stack_size(previous_stack)
    return answer[0]


def test_long_or_chain_reads_as_the_grammar_reads_it_on_a_deep_stack() -> None:
    """3,000 OR-ed hashes: the grammar's runtime runs out of recursion at the default limit; the reader does
    not, and gives what the grammar gives when it has the stack."""
    pattern = " OR ".join(f"[file:hashes.'SHA-1' = '{n:040x}']" for n in range(3000))
    assert _grammar(pattern, "2.1") == "rejected: pattern nests too deeply for the STIX pattern parser"
    fast = read_simple_pattern(pattern)
    assert fast is not None and len(fast) == 3000
    assert _grammar_on_a_deep_stack(pattern) == fast
    assert pattern_comparisons(pattern) == fast

"""Stored text made safe to serialise: what is repaired, what is left alone, and how excerpts read."""

from __future__ import annotations

from typing import Any

import pytest

from ewarn.textsafe import REPLACEMENT, excerpt, needs_repair, repair


@pytest.mark.parametrize(
    ("data", "repaired"),
    [
        pytest.param({"name": "Ward \ud800 B"}, {"name": f"Ward {REPLACEMENT} B"}, id="lone-surrogate"),
        pytest.param({"tags": ["a\x00b"]}, {"tags": [f"a{REPLACEMENT}b"]}, id="nul-in-list"),
        pytest.param({"k\udfff": 1}, {f"k{REPLACEMENT}": 1}, id="surrogate-in-key"),
        pytest.param({"m": {"n": ["\ud83d"]}}, {"m": {"n": [REPLACEMENT]}}, id="nested"),
        pytest.param({"name": "Klinikum Süd 🏥", "n": 3, "x": None}, None, id="valid-unicode-untouched"),
        pytest.param({"name": "C:\\u0000 as text"}, None, id="escaped-text-is-not-nul"),
    ],
)
def test_repair(data: dict[str, Any], repaired: dict[str, Any] | None) -> None:
    if repaired is None:
        assert repair(data) == data
        return
    assert needs_repair(data)
    assert repair(data) == repaired
    assert not needs_repair(repaired)


def test_untouched_data_is_returned_as_is() -> None:
    data = {"name": "ok"}
    assert repair(data) is data


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param(b"\xff\x00ab", "\\xff\\x00ab", id="bytes-not-utf8"),
        pytest.param("line\nbreak \ud800", "line\\nbreak \\ud800", id="text-escaped"),
        pytest.param({"a": "\ud800"}, '{"a": "\\ud800"}', id="data-as-ascii-json"),
    ],
)
def test_excerpt_shows_the_culprit_escaped(value: Any, shown: str) -> None:
    assert excerpt(value) == shown
    assert excerpt(value).isprintable()


def test_excerpt_is_bounded() -> None:
    assert len(excerpt("x" * 10_000, 100)) == 100

"""ParseResult.contain_unstorable: which text refuses an indicator, and the rejection it becomes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ewarn.ingest.csaf import parse_csaf
from ewarn.ingest.normalise import Observable
from ewarn.ingest.records import FeedContext, ParseResult
from ewarn.models.indicator import IndicatorType

CTX = FeedContext(feed_id="feed-x", feed_kind="misp")
ADDRESS = Observable(IndicatorType.IPV4, "198.51.100.9")


@pytest.mark.parametrize(
    ("fields", "refused"),
    [
        pytest.param({"name": "ok", "description": "two\nlines\tand a tab"}, None, id="clean"),
        pytest.param({"description": "payload \x03\x06 quoted"}, None, id="control-in-free-text-kept"),
        pytest.param({"name": "x\x00"}, "name contains a NUL character", id="nul-name"),
        pytest.param({"description": "\udfff"}, "description contains a lone surrogate", id="surrogate"),
        pytest.param({"labels": ["c2\x1b"]}, "labels contains a control character", id="control-label"),
    ],
)
def test_which_text_refuses_an_indicator(fields: dict[str, object], refused: str | None) -> None:
    result = ParseResult(read=1)
    result.indicators.append(CTX.indicator(ADDRESS, record="attr-1", **fields))
    result.contain_unstorable()
    if refused is None:
        assert len(result.indicators) == 1 and not result.rejections
        return
    assert not result.indicators
    (rejection,) = result.rejections
    assert rejection.reason.startswith(f"feed feed-x: record attr-1: {refused}"), rejection.reason
    assert rejection.excerpt is not None and rejection.excerpt.isprintable()


def test_one_rejection_per_record_and_field() -> None:
    result = ParseResult(read=1)
    for value in ("198.51.100.1", "198.51.100.2"):
        observable = Observable(IndicatorType.IPV4, value)
        result.indicators.append(CTX.indicator(observable, record="line 1", name="bad\x00"))
    result.contain_unstorable()
    assert not result.indicators and len(result.rejections) == 1


def test_an_advisory_names_the_field_that_holds_the_bad_text(shared_data: Path) -> None:
    document = json.loads((shared_data / "csaf/cisa-icsma/icsma-22-174-01.json").read_text())
    document["vulnerabilities"][0]["remediations"][0]["details"] = "update \x00 now"
    result = parse_csaf(json.dumps(document).encode(), FeedContext(feed_id="c", feed_kind="csaf"))
    assert len(result.indicators) == 1
    result.contain_unstorable()
    (rejection,) = result.rejections
    assert "record ICSMA-22-174-01: vulnerability.remediations[0] contains a NUL" in rejection.reason

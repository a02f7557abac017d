"""schemas/ holds the JSON Schema of every message crossing a stage boundary; it must not drift."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from ewarn.models.alert import Alert, MatchDetail, Severity
from ewarn.models.asset import AssetChange
from ewarn.models.common import TLP
from ewarn.models.indicator import Indicator, IndicatorType, SourceRef
from ewarn.schemas import all_schemas, render

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", sorted(all_schemas()))
def test_exported_schema_matches_the_models(name: str) -> None:
    path = SCHEMAS / name
    assert path.is_file(), f"schemas/{name} is missing; run `ewarn schemas export schemas`"
    assert path.read_text(encoding="utf-8") == render(all_schemas()[name]), (
        f"schemas/{name} drifted from the models; re-export with `ewarn schemas export schemas` "
        "and treat the change as a change of the public contract"
    )


def test_no_stale_schema_files() -> None:
    assert {p.name for p in SCHEMAS.glob("*.json")} == set(all_schemas())


def _validate(name: str, message: str) -> None:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    cls(schema).validate(json.loads(message))


def test_messages_on_the_wire_validate_against_their_schema() -> None:
    indicator = Indicator(
        key="ipv4:203.0.113.7",
        type=IndicatorType.IPV4,
        value="203.0.113.7",
        tlp=TLP.AMBER,
        labels=["ransomware"],
        source=SourceRef(feed_id="f", feed_kind="stix_bundle", record="indicator--1", seen_at=NOW),
        ingested_at=NOW,
    )
    _validate("indicator.v1.json", indicator.model_dump_json())
    alert = Alert(
        id="alr_1",
        provider_id="p",
        indicator_key=indicator.key,
        indicator_type=indicator.type,
        asset_id="ast_1",
        title="t",
        severity=Severity.HIGH,
        score=80,
        reason="203.0.113.7 is inside your range 203.0.113.0/24 'PACS DMZ'",
        match=MatchDetail(
            asset_id="ast_1",
            asset_name="PACS DMZ",
            asset_kind="network",
            field="network",
            asset_value="203.0.113.0/24",
            indicator_value="203.0.113.7",
        ),
        tlp=TLP.AMBER,
        matched_at=NOW,
    )
    _validate("alert.v1.json", alert.model_dump_json())
    _validate(
        "asset-change.v1.json",
        AssetChange(provider_id="p", changed_asset_ids=["a"], changed_at=NOW).model_dump_json(),
    )


def test_schema_rejects_a_message_missing_its_key() -> None:
    with pytest.raises(jsonschema.ValidationError):
        _validate("indicator.v1.json", json.dumps({"type": "ipv4", "value": "203.0.113.7"}))

"""What to do travels with the alert into TAXII and every export format.

The CISA advisory ICSA-22-034-01 (Sensormatic PowerManage, Log4Shell) from ../shared/data is read by ewarn's
CSAF parser; the remediations ewarn chooses for the alert (``ewarn.actions.remediations``) ride on an alert
stored in a served API. taxii2-client reads the courses of action and their ``mitigates`` relationships
(every object passes the STIX 2.1 validator), the STIX export carries the same objects, PyMISP loads the MISP
export's ``text`` and ``link`` attributes, and the CSV export's action columns hold the source's words.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stix2
from pymisp import MISPEvent
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import Server, as_pages
from tests.support.read_world import store_alerts
from tests.support.receivers import sample_alert
from tests.support.served_api import OWN, ServedApi

from ewarn.actions.remediations import for_alert
from ewarn.api.taxii.collections import COLLECTIONS
from ewarn.ingest.csaf import parse_csaf
from ewarn.ingest.records import FeedContext
from ewarn.models.alert import Alert
from ewarn.models.common import TLP

ADVISORY = Path("csaf") / "cisa-icsa-hospital-infrastructure" / "icsa-22-034-01.json"
VALIDATION = ValidationOptions(version="2.1", strict=False)


def _advisory_alert(data: Path) -> tuple[Alert, dict[str, Any]]:
    """An alert on the advisory with the remediations ewarn picks, and the source's own words (plain json)."""
    raw = (data / ADVISORY).read_bytes()
    document = json.loads(raw)
    (vulnerability,) = document["vulnerabilities"]
    (fix,) = [r for r in vulnerability["remediations"] if r["category"] == "vendor_fix"]
    web = [r["url"] for r in document["document"]["references"] if r["category"] == "self"]
    words = {
        "tracking_id": document["document"]["tracking"]["id"],
        "advisory_url": next(u for u in web if not u.endswith(".json")),
        "fix_text": fix["details"],
        "fixed_version": fix["details"].rsplit(" ", 1)[-1],  # "Upgrade PowerManage to Version 4.10"
        "cve": vulnerability["cve"],
    }
    (indicator,) = parse_csaf(raw, FeedContext(feed_id="cisa-csaf", feed_kind="csaf")).indicators
    remediations = for_alert(indicator, product_ids=[], cves=[words["cve"]])
    assert remediations, "ewarn's CSAF reader found the advisory's remediations"
    alert = sample_alert(
        provider_id=OWN,
        asset_id="ast_powermanage",
        indicator_key=f"vulnerability:{words['cve']}",
        indicator_type="vulnerability",
        title=f"{words['tracking_id']}: Sensormatic PowerManage 4.5 is vulnerable",
        reason="Your PowerManage 4.5 server matches the advisory's affected versions",
        cves=[words["cve"]],
        tlp=TLP.AMBER.value,
        remediations=[r.model_dump() for r in remediations],
        advisory=words["tracking_id"],
        advisory_url=words["advisory_url"],
    )
    return alert, words


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Iterator[tuple[ServedApi, Alert, dict[str, Any]]]:
    alert, words = _advisory_alert(shared_data)
    api = ServedApi(database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('act') / 'a.db'}").start()
    store_alerts(api, [alert])
    try:
        yield api, alert, words
    finally:
        api.stop()


def _assert_actions(objects: list[dict[str, Any]], words: dict[str, Any]) -> None:
    for obj in objects:
        result = validate_instance(obj, VALIDATION)
        assert result.is_valid, f"{obj['id']}: {[str(e) for e in result.errors]}"
    actions = {o["name"]: o for o in objects if o["type"] == "course-of-action"}
    fix = actions["Vendor fix"]
    assert fix["description"] == f"{words['fix_text']}\nFixed version: {words['fixed_version']}"
    assert {"source_name": words["tracking_id"], "url": words["advisory_url"]} in fix["external_references"]
    (threat,) = [o for o in objects if o["type"] == "vulnerability"]
    mitigating = {
        o["source_ref"]
        for o in objects
        if o["type"] == "relationship"
        and o["relationship_type"] == "mitigates"
        and o["target_ref"] == threat["id"]
    }
    assert {a["id"] for a in actions.values()} == mitigating
    ids = [o["id"] for o in objects]
    assert len(ids) == len(set(ids)), "each object once"


@pytest.mark.parametrize("who", ["provider", "csirt", "operator"])
def test_taxii_serves_the_recommended_actions(
    world: tuple[ServedApi, Alert, dict[str, Any]], who: str
) -> None:
    served, _, words = world
    root = Server(f"{served.base_url}/taxii2/", user="soc", password=served.keys[who]).default
    assert root is not None
    (collection,) = [c for c in root.collections if c.id == COLLECTIONS[0].id]
    objects = [o for page in as_pages(collection.get_objects, per_request=3) for o in page.get("objects", [])]
    _assert_actions(objects, words)
    fix = next(o for o in objects if o["type"] == "course-of-action" and o["name"] == "Vendor fix")
    (by_id,) = collection.get_object(fix["id"])["objects"]
    assert by_id == fix


def test_stix_export_carries_the_recommended_actions(world: tuple[ServedApi, Alert, dict[str, Any]]) -> None:
    served, _, words = world
    response = httpx.get(
        f"{served.base_url}/api/v1/exports/alerts", params={"format": "stix"}, headers=served.headers("csirt")
    )
    assert response.status_code == 200, response.text
    stix2.parse(response.text, allow_custom=False)
    _assert_actions(response.json()["objects"], words)


def test_misp_export_carries_the_recommended_actions(world: tuple[ServedApi, Alert, dict[str, Any]]) -> None:
    served, alert, words = world
    response = httpx.get(
        f"{served.base_url}/api/v1/exports/alerts",
        params={"format": "misp"},
        headers=served.headers("provider"),
    )
    assert response.status_code == 200, response.text
    event = MISPEvent()
    event.load(response.text)
    by_type: dict[str, list[Any]] = {}
    for attribute in event.attributes:
        assert alert.id in attribute.comment
        assert {t.name for t in attribute.tags} == {"tlp:amber", f'ewarn:severity="{alert.severity.value}"'}
        by_type.setdefault(attribute.type, []).append(attribute)
    (vulnerability,) = by_type["vulnerability"]
    assert vulnerability.value == words["cve"] and vulnerability.to_ids is False
    texts = {a.value.split("\n")[0]: a for a in by_type["text"]}
    fix = texts[words["fix_text"]]
    assert f"Fixed version: {words['fixed_version']}" in fix.value.split("\n")
    assert fix.category == "External analysis" and fix.to_ids is False and "vendor_fix" in fix.comment
    assert len(texts) == len(alert.remediations)
    (link,) = by_type["link"]
    assert link.value == words["advisory_url"] and link.to_ids is False


def test_csv_export_has_the_action_columns(world: tuple[ServedApi, Alert, dict[str, Any]]) -> None:
    served, alert, words = world
    response = httpx.get(
        f"{served.base_url}/api/v1/exports/alerts",
        params={"format": "csv"},
        headers=served.headers("operator"),
    )
    assert response.status_code == 200, response.text
    (row,) = list(csv.DictReader(io.StringIO(response.text)))
    assert row["id"] == alert.id
    assert f"vendor_fix: {words['fix_text']}" in row["recommended_action"].split(" | ")
    assert words["fixed_version"] in row["fixed_versions"].split(";")
    assert row["advisory_url"] == words["advisory_url"]
    assert row["due_date"] == min((r.due_date for r in alert.remediations if r.due_date), default="")

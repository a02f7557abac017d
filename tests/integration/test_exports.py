"""Exports round-trip and match the alert list: the STIX bundle parses with stix2, the MISP event loads with
PyMISP's ``MISPEvent``, the CSV reads with the csv module; per role, within the TLP read rule."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import httpx
import pytest
import stix2
from pymisp import MISPEvent
from tests.support.read_world import readable, seeded_alerts, store_alerts
from tests.support.served_api import OWN, ServedApi

from ewarn.api.routes import exports as export_route
from ewarn.exports.formats import CSV_COLUMNS

ALERTS = seeded_alerts(own=24, other=3)
BY_ID = {a.id: a for a in ALERTS}
ROLES = ("provider", "csirt", "operator", "other")
URL = "/api/v1/exports/alerts"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApi]:
    api = ServedApi(database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('exp') / 'e.db'}").start()
    store_alerts(api, ALERTS)
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture(scope="module")
def client(served: ServedApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base_url, timeout=30) as c:
        yield c


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several pages per export: the stream is stitched from pages, each in its own session."""
    monkeypatch.setattr(export_route, "PAGE", 5)


def _listed(client: httpx.Client, served: ServedApi, who: str, **filters: str) -> list[str]:
    response = client.get("/api/v1/alerts", params={"limit": 500, **filters}, headers=served.headers(who))
    assert response.status_code == 200
    return [a["id"] for a in response.json()["items"]]


def _export(client: httpx.Client, served: ServedApi, who: str, fmt: str, **filters: str) -> httpx.Response:
    response = client.get(URL, params={"format": fmt, **filters}, headers=served.headers(who))
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith("attachment;")
    return response


@pytest.mark.parametrize("who", ROLES)
def test_stix_export_parses_and_matches_the_list(served: ServedApi, client: httpx.Client, who: str) -> None:
    response = _export(client, served, who, "stix")
    assert response.headers["content-type"] == "application/stix+json;version=2.1"
    bundle = stix2.parse(response.text, allow_custom=False)
    sightings = [o for o in bundle.objects if o.type == "sighting"]
    ids = [r.external_id for s in sightings for r in s.external_references if r.source_name == "ewarn"]
    listed = _listed(client, served, who)
    assert ids == listed and set(ids) == {a.id for a in readable(ALERTS, who)}
    identities = [o.id for o in bundle.objects if o.type == "identity"]
    assert len(identities) == len(set(identities)), "shared identities once"


@pytest.mark.parametrize("who", ROLES)
def test_misp_export_loads_in_pymisp_and_matches_the_list(
    served: ServedApi, client: httpx.Client, who: str
) -> None:
    event = MISPEvent()
    event.load(_export(client, served, who, "misp").text)
    listed = _listed(client, served, who)
    assert len(event.attributes) == len(listed)
    expected_tlps = set()
    for attribute, alert_id in zip(event.attributes, listed, strict=True):
        alert = BY_ID[alert_id]
        assert alert_id in attribute.comment
        tags = {t.name for t in attribute.tags}
        assert tags == {f"tlp:{alert.tlp.value}", f'ewarn:severity="{alert.severity.value}"'}
        assert attribute.to_ids is (alert.indicator_type.value != "vulnerability")
        assert attribute.value == alert.indicator_key.split(":", 1)[1]
        expected_tlps.add(alert.tlp)
    event_tags = {t.name for t in event.tags}
    if listed:
        strictest = max(expected_tlps, key=lambda t: t.rank)
        assert f"tlp:{strictest.value}" in event_tags
    if who == "csirt":
        assert not {"tlp:red", "tlp:amber+strict"} & (
            event_tags | {t.name for a in event.attributes for t in a.tags}
        )


@pytest.mark.parametrize(
    "filters",
    [
        pytest.param({}, id="all"),
        pytest.param({"min_severity": "high"}, id="min-severity"),
        pytest.param({"provider_id": OWN, "status": "new"}, id="provider-status"),
    ],
)
def test_csv_export_reads_back_as_the_list(
    served: ServedApi, client: httpx.Client, filters: dict[str, str]
) -> None:
    response = _export(client, served, "csirt", "csv", **filters)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    listed = _listed(client, served, "csirt", **filters)
    assert [r["id"] for r in rows] == listed and listed
    assert tuple(rows[0]) == CSV_COLUMNS
    for row in rows:
        alert = BY_ID[row["id"]]
        assert row["tlp"] == alert.tlp.value and row["severity"] == alert.severity.value
        # a cell a spreadsheet would run as a formula is quoted with a leading apostrophe
        assert row["title"].removeprefix("'") == alert.title
        assert not row["title"].startswith("=")
    if not filters:
        assert any(row["title"].startswith("'=") for row in rows), "the world holds a formula-like title"


def test_export_of_another_tenant_is_not_found(served: ServedApi, client: httpx.Client) -> None:
    response = client.get(
        URL, params={"format": "csv", "provider_id": "hosp-b"}, headers=served.headers("csirt")
    )
    assert response.status_code == 404
    assert json.loads(response.text)["status"] == 404

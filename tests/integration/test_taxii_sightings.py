"""The TAXII collection of sector sightings (issue 15), read by taxii2-client over a real HTTP server.

Hospital A submits sightings through the API; hospital B, A itself, a CSIRT and the operator read the
collection. Each reads exactly what its firewall blocklists hold (same query, same TLP rule), held-back
sightings never appear, and A is named only where it opted in (``share_identity``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import Collection, Server, as_pages
from tests.support.served_api import OWN, ServedApi

from ewarn.api.taxii.collections import SECTOR_SIGHTINGS
from ewarn.models.common import utcnow

VALIDATION = ValidationOptions(version="2.1", strict=False)
ANONYMOUS = "185.220.101.4"  # A's anonymous scan
STRICT = "185.220.101.5"  # A's TLP:AMBER+STRICT block: providers only, never a CSIRT
SHARED = "c2.ransom-crew.example"  # A names itself on this one
PRIVATE = "10.20.30.40"  # held back: a private range never becomes an entry
RED = "185.220.101.6"  # TLP:RED: held back, A's own blocklist only, never this collection
CONFIRMED = "185.220.101.9"  # compromised A, then a CSIRT confirms it (a world of its own)
ROLES = ("provider", "other", "csirt", "operator")


def _body(observable: str, type_: str = "ip", **extra: Any) -> dict[str, Any]:
    now = utcnow()
    return {
        "observable": observable,
        "type": type_,
        "first_seen": (now - timedelta(minutes=6)).isoformat(),
        "last_seen": (now - timedelta(minutes=4)).isoformat(),
        "count": 12,
        "confidence": 80,
        "kind": "scan",
        "context": f"VPN brute force at {OWN}",
        **extra,
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApi]:
    api = ServedApi(database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('tsi') / 's.db'}").start()
    submissions = [
        (_body(ANONYMOUS), "relayed"),
        (_body(STRICT, kind="blocked", tlp="amber+strict"), "relayed"),
        (_body(SHARED, "domain", share_identity=True), "relayed"),
        (_body(PRIVATE), "held"),
        (_body(RED, tlp="red"), "held"),
    ]
    try:
        for body, status in submissions:
            response = httpx.post(
                f"{api.base_url}/api/v1/sightings", json=body, headers=api.headers("provider"), timeout=30
            )
            assert response.status_code == 201 and response.json()["status"] == status, response.text
        yield api
    finally:
        api.stop()


def _collection(served: ServedApi, who: str) -> Collection:
    root = Server(f"{served.base_url}/taxii2/", user="soc", password=served.keys[who]).default
    assert root is not None
    (found,) = [c for c in root.collections if c.id == SECTOR_SIGHTINGS.id]
    assert found.can_read and not found.can_write
    return found


def _read(served: ServedApi, who: str) -> list[dict[str, Any]]:
    collection = _collection(served, who)
    return [o for page in as_pages(collection.get_objects, per_request=2) for o in page.get("objects", [])]


def _indicators(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Indicators by observable value (read back from the pattern)."""
    return {o["pattern"].split("'")[1]: o for o in objects if o["type"] == "indicator"}


def _blocklists(served: ServedApi, who: str) -> set[str]:
    lines: set[str] = set()
    for name in ("ip", "domain"):
        response = httpx.get(
            f"{served.base_url}/api/v1/blocklists/{name}.txt", headers=served.headers(who), timeout=30
        )
        assert response.status_code == 200, response.text
        lines |= set(response.text.splitlines())
    return lines


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        pytest.param("other", {ANONYMOUS, STRICT, SHARED}, id="hospital-b"),
        pytest.param("provider", {ANONYMOUS, STRICT, SHARED}, id="reporter-a"),
        pytest.param("csirt", {ANONYMOUS, SHARED}, id="csirt-not-amber-strict"),
        pytest.param("operator", {ANONYMOUS, STRICT, SHARED}, id="operator"),
    ],
)
def test_each_principal_reads_its_blocklists_as_stix(served: ServedApi, who: str, expected: set[str]) -> None:
    objects = _read(served, who)
    indicators = _indicators(objects)
    assert set(indicators) == expected
    # the blocklists' relayed entries, no more: a TLP:RED sighting is held back (its reporter's and the
    # operator's own blocklist only, no relay), so never in the sector collection
    blocklists = _blocklists(served, who)
    assert blocklists - {RED} == expected
    assert (RED in blocklists) is (who in ("provider", "operator"))
    assert PRIVATE not in json.dumps(objects) and RED not in json.dumps(objects), "held back: never listed"
    ids = [o["id"] for o in objects]
    assert len(ids) == len(set(ids)), "paged without repeats"
    sightings = [o for o in objects if o["type"] == "sighting"]
    assert {s["sighting_of_ref"] for s in sightings} == {i["id"] for i in indicators.values()}
    for obj in objects:
        result = validate_instance(obj, VALIDATION)
        assert result.is_valid, f"{obj['id']}: {[str(e) for e in result.errors]}"


def test_b_sees_a_relayed_entry_never_a_name(served: ServedApi) -> None:
    objects = _read(served, "other")
    entry = _indicators(objects)[ANONYMOUS]
    assert entry["pattern"] == f"[ipv4-addr:value = '{ANONYMOUS}']"
    assert {"severity:low", "corroboration:1", "kind:scan"} <= set(entry["labels"])
    assert entry["object_marking_refs"] == ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"]
    assert entry["valid_until"] > entry["valid_from"]
    (sighting,) = [o for o in objects if o["type"] == "sighting" and o["sighting_of_ref"] == entry["id"]]
    assert "where_sighted_refs" not in sighting and "description" not in sighting
    assert sighting["count"] == 12 and sighting["confidence"] == 80
    anonymous = json.dumps([entry, sighting])
    assert OWN not in anonymous
    strict = _indicators(objects)[STRICT]
    assert {"severity:medium", "kind:blocked"} <= set(strict["labels"])
    assert strict["object_marking_refs"] == ["marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"]


def test_a_reporter_that_opted_in_is_named(served: ServedApi) -> None:
    objects = _read(served, "other")
    entry = _indicators(objects)[SHARED]
    assert entry["pattern"] == f"[domain-name:value = '{SHARED}']"
    (sighting,) = [o for o in objects if o["type"] == "sighting" and o["sighting_of_ref"] == entry["id"]]
    (where,) = sighting["where_sighted_refs"]
    (identity,) = [o for o in objects if o["id"] == where]
    assert identity["name"] == OWN and sighting["description"] == f"VPN brute force at {OWN}"
    names = {o["name"] for o in objects if o["type"] == "identity"}
    assert names == {"ewarn", OWN}


def test_object_by_id_and_added_after(served: ServedApi) -> None:
    collection = _collection(served, "other")
    objects = _read(served, "other")
    entry = _indicators(objects)[ANONYMOUS]
    (by_id,) = collection.get_object(entry["id"])["objects"]
    assert by_id == entry
    assert collection.object_versions(entry["id"])["versions"] == [entry["modified"]]
    manifest = collection.get_manifest()["objects"]
    assert [m["id"] for m in manifest] == [o["id"] for o in objects]
    last = max(m["date_added"] for m in manifest)
    assert collection.get_objects(added_after=last).get("objects") is None
    held = _read(served, "operator")
    assert len(held) == len(objects)


def test_a_csirt_confirmation_raises_the_entry_and_makes_a_new_version(tmp_path: Path) -> None:
    api = ServedApi(database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}").start()
    try:
        response = httpx.post(
            f"{api.base_url}/api/v1/sightings",
            json=_body(CONFIRMED, kind="compromised"),
            headers=api.headers("provider"),
            timeout=30,
        )
        assert response.status_code == 201, response.text
        before = _indicators(_read(api, "other"))[CONFIRMED]
        assert {"severity:high", "corroboration:1"} <= set(before["labels"])
        confirmed = httpx.post(
            f"{api.base_url}/api/v1/sightings/{response.json()['id']}/confirm",
            headers=api.headers("csirt"),
            timeout=30,
        )
        assert confirmed.status_code == 200, confirmed.text
        objects = _read(api, "other")
        after = _indicators(objects)[CONFIRMED]
        assert after["id"] == before["id"] and after["modified"] > before["modified"]
        assert {"severity:critical", "corroboration:2", "csirt-confirmed"} <= set(after["labels"])
        (sighting,) = [o for o in objects if o["type"] == "sighting"]
        assert "csirt-confirmed" in sighting["labels"] and sighting["modified"] == after["modified"]
        assert "cert-de" not in json.dumps(objects) and OWN not in json.dumps(objects)
    finally:
        api.stop()

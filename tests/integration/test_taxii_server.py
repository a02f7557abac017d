"""ewarn's TAXII 2.1 server read by taxii2-client, the OASIS client, over a real HTTP server on loopback.

A provider's and a CSIRT's collections are paged (larger than a page) and resumed with ``added_after``; every
object served passes the STIX 2.1 validator; what each key reads is exactly what its role may read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import stix2
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages
from tests.support.read_world import readable, seeded_alerts, store_alerts
from tests.support.served_api import ServedApi

from ewarn.api.taxii.collections import COLLECTIONS, TAXII_MEDIA
from ewarn.models.alert import Alert
from ewarn.stixmap import stix_id

ALERTS = seeded_alerts()
ALL = COLLECTIONS[0]
ROLES = ("provider", "csirt", "operator", "other")
VALIDATION = ValidationOptions(version="2.1", strict=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApi]:
    api = ServedApi(database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('taxii') / 't.db'}").start()
    store_alerts(api, ALERTS)
    try:
        yield api
    finally:
        api.stop()


def _server(served: ServedApi, who: str) -> Server:
    # taxii2-client sends HTTP Basic; ewarn takes the API key as the password.
    return Server(f"{served.base_url}/taxii2/", user="soc", password=served.keys[who])


def _collection(served: ServedApi, who: str, collection_id: str = ALL.id) -> Collection:
    root: ApiRoot = _server(served, who).default
    assert root is not None
    (found,) = [c for c in root.collections if c.id == collection_id]
    return found


def _alert_ids(objects: list[dict[str, Any]]) -> set[str]:
    """The ewarn alert ids named by the sightings of ``objects``."""
    return {
        ref["external_id"]
        for o in objects
        if o["type"] == "sighting"
        for ref in o["external_references"]
        if ref["source_name"] == "ewarn"
    }


def _read_all(collection: Collection, per_request: int, **filters: Any) -> tuple[list[dict[str, Any]], int]:
    objects: list[dict[str, Any]] = []
    pages = 0
    for envelope in as_pages(collection.get_objects, per_request=per_request, **filters):
        pages += 1
        objects += envelope.get("objects", [])
    return objects, pages


@pytest.mark.parametrize("who", ROLES)
def test_taxii2_client_pages_a_collection_and_reads_exactly_what_the_role_may(
    served: ServedApi, who: str
) -> None:
    collection = _collection(served, who)
    assert collection.can_read and not collection.can_write
    objects, pages = _read_all(collection, per_request=6)
    expected = readable(ALERTS, who)
    assert pages > 1, "the collection is larger than one page"
    assert _alert_ids(objects) == {a.id for a in expected}
    own = [o["id"] for o in objects if o["type"] != "identity"]
    assert len(own) == len(set(own)) == 3 * len(expected), "every alert's objects once, no page repeats"
    _validate(objects)
    stix2.parse({"type": "bundle", "id": stix_id("bundle", "t"), "objects": objects}, allow_custom=False)


_VALIDATED: dict[tuple[str, str], str] = {}  # (id, modified) -> the JSON validated


def _validate(objects: list[dict[str, Any]]) -> None:
    """Every object served passes the STIX 2.1 validator (each distinct object once: the same id and version
    served to another key must be byte for byte the object already validated)."""
    for obj in objects:
        text = json.dumps(obj, sort_keys=True)
        key = (obj["id"], obj.get("modified", ""))
        if key in _VALIDATED:
            assert _VALIDATED[key] == text, f"{obj['id']} served with two contents"
            continue
        result = validate_instance(obj, VALIDATION)
        assert result.is_valid, f"{obj['id']}: {[str(e) for e in result.errors]}"
        _VALIDATED[key] = text


@pytest.mark.parametrize("who", ["provider", "csirt"])
def test_added_after_resumes_where_the_client_stopped(served: ServedApi, who: str) -> None:
    collection = _collection(served, who)
    first = collection.get_objects(limit=10)
    manifest = collection.get_manifest(limit=10)
    assert [m["id"] for m in manifest["objects"]] == [o["id"] for o in first["objects"]]
    cut = max(m["date_added"] for m in manifest["objects"])
    rest, _ = _read_all(collection, per_request=25, added_after=cut)
    expected = readable(ALERTS, who)
    first_alerts = _alert_ids(first["objects"])
    assert first_alerts and _alert_ids(rest) == {a.id for a in expected} - first_alerts
    _validate(first["objects"] + rest)


def test_severity_collection_holds_only_its_severity(served: ServedApi) -> None:
    critical = next(c for c in COLLECTIONS if c.title.endswith("critical"))
    objects, _ = _read_all(_collection(served, "operator", critical.id), per_request=50)
    assert _alert_ids(objects) == {a.id for a in ALERTS if a.severity.value == "critical"}


@pytest.mark.parametrize(
    ("who", "alert_index", "found"),
    [
        pytest.param("provider", 4, True, id="provider-reads-own-red"),
        pytest.param("csirt", 4, False, id="csirt-not-red"),
        pytest.param("csirt", 3, False, id="csirt-not-amber-strict"),
        pytest.param("csirt", 2, True, id="csirt-reads-amber"),
        pytest.param("other", 2, False, id="other-tenant-never"),
        pytest.param("operator", 4, True, id="operator-reads-red"),
    ],
)
def test_object_by_id_and_versions_follow_the_tlp_rule(
    served: ServedApi, who: str, alert_index: int, found: bool
) -> None:
    alert: Alert = ALERTS[alert_index]
    sighting_id = stix_id("sighting", alert.id, str(alert.revision))
    collection = _collection(served, who)
    if not found:
        with pytest.raises(requests.HTTPError) as refused:
            collection.get_object(sighting_id)
        assert refused.value.response.status_code == 404
        return
    envelope = collection.get_object(sighting_id)
    (obj,) = envelope["objects"]
    assert obj["id"] == sighting_id and obj["description"] == alert.reason
    _validate([obj])
    versions = collection.object_versions(sighting_id)
    assert versions["versions"] == [obj["modified"]]


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        pytest.param("/taxii2/", {}, 401, id="no-key"),
        pytest.param(
            "/taxii2/ewarn/collections/nope/", {"Accept": TAXII_MEDIA}, 404, id="unknown-collection"
        ),
        pytest.param("/taxii2/ewarn/", {"Accept": "application/xml"}, 406, id="not-acceptable"),
        pytest.param(
            f"/taxii2/ewarn/collections/{ALL.id}/objects/?added_after=yesterday",
            {},
            400,
            id="bad-added-after",
        ),
        pytest.param(
            f"/taxii2/ewarn/collections/{ALL.id}/objects/?next=1_x&limit=0", {}, 422, id="bad-limit"
        ),
    ],
)
def test_errors_have_the_taxii_shape(
    served: ServedApi, path: str, headers: dict[str, str], status: int
) -> None:
    auth = {} if status == 401 else served.headers("provider")
    response = httpx.get(f"{served.base_url}{path}", headers={**auth, **headers}, timeout=10)
    assert response.status_code == status, response.text
    body = response.json()
    # the guard's 401 and parameter validation's 422 too (tests/integration/test_taxii_guard_errors.py)
    assert response.headers["content-type"] == TAXII_MEDIA
    assert body["http_status"] == str(status) and body["title"]


def test_discovery_points_at_the_api_root(served: ServedApi) -> None:
    server = _server(served, "csirt")
    assert server.default is not None and server.default.url == f"{served.base_url}/taxii2/ewarn/"
    assert TAXII_MEDIA in server.default.versions
    assert [r.url for r in server.api_roots] == [server.default.url]

"""Feed records carrying text no store or encoder can hold, on every feed kind, SQLite and PostgreSQL.

A lone surrogate (a ``\\ud800`` JSON escape) or NUL in a CSV IOC list, a MISP event or a CSAF advisory, pushed
or read from a feed file, and bytes that are not UTF-8 in a CSV list: only that record is rejected, with a
reason naming the feed and the record; the valid records around it are stored and published, and the answer
is never a 5xx (PostgreSQL refuses NUL in text and JSON; JSON encoders refuse lone surrogates). Other control
characters are storable: in free text (names, comments) they are kept as the feed wrote them (real MISP
feeds quote raw payloads), in an observable they make it no indicator.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.ingest import repository
from ewarn.models.provider import Role
from ewarn.runtime import Runtime
from ewarn.settings import IngestSettings, Settings
from ewarn.store.db import create_schema
from ewarn.store.repositories.principals import create_api_key

OPERATOR_KEY = "ewk_operator_unstorable_test"
AUTH = {"Authorization": f"Bearer {OPERATOR_KEY}"}
Api = tuple[httpx.AsyncClient, Runtime, MemoryBus]


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    bus = MemoryBus()
    runtime = Runtime.build(
        Settings(database_url=database_url, ingest=IngestSettings(file_root=str(tmp_path))), bus=bus
    )
    await create_schema(runtime.engine)
    async with runtime.sessions() as session, session.begin():
        await create_api_key(session=session, role=Role.OPERATOR, key=OPERATOR_KEY)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://ewarn.test") as client:
        yield client, runtime, bus
    http = runtime.services.get("ingest_http")
    if http is not None:
        await http.aclose()
    await runtime.close()


async def _poll_file(client: httpx.AsyncClient, feed_id: str, kind: str, path: Path, **config: Any) -> Any:
    body = {"id": feed_id, "kind": kind, "location": str(path), "config": config}
    created = await client.post("/api/v1/feeds", json=body, headers=AUTH)
    assert created.status_code == 201, created.text[:500]
    polled = await client.post(f"/api/v1/feeds/{feed_id}/poll", headers=AUTH)
    assert polled.status_code == 200, polled.text[:500]
    return polled.json()


async def _rejections(client: httpx.AsyncClient, feed_id: str) -> dict[str, str]:
    listed = await client.get(f"/api/v1/feeds/{feed_id}/rejections", headers=AUTH)
    assert listed.status_code == 200, listed.text[:500]
    return {r["record"]: r["reason"] for r in listed.json()}


async def _stored(runtime: Runtime, *keys: str) -> dict[str, bool]:
    async with runtime.sessions() as session:
        return {key: await repository.get_indicator(session=session, key=key) is not None for key in keys}


def _published(runtime: Runtime, bus: MemoryBus) -> set[str]:
    return {r.key for r in bus.records(runtime.topics.indicators) if r.key is not None}


def _assert_named(reasons: dict[str, str], feed_id: str, record: str, why: str) -> None:
    assert record in reasons, reasons
    reason = reasons[record]
    assert f"feed {feed_id}" in reason and f"record {record}" in reason and why in reason, reason


# --- CSV IOC lists -----------------------------------------------------------------------------------------

CSV_ROWS = (
    "198.51.100.1,Good first\n"
    "198.51.100.2,nul\x00name\n"
    "198.51.100.3,payload \x03 kept\n"
    "198.51.100.4\x1b[31m,escape in the value\n"
    "nul\x00.example.org,NUL in the value\n"
    "198.51.100.5,Good last\n"
)


async def test_csv_list_rejects_only_the_rows_with_unstorable_text(api: Api, tmp_path: Path) -> None:
    client, runtime, bus = api
    path = tmp_path / "list.csv"
    path.write_bytes(CSV_ROWS.encode())
    report = await _poll_file(client, "csv-feed", "ioc_list", path, header="none", name_column="1")
    assert report["error"] is None and report["accepted"] == 3 and report["rejected"] == 3, report
    reasons = await _rejections(client, "csv-feed")
    _assert_named(reasons, "csv-feed", "line 2", "NUL")
    assert set(reasons) == {"line 2", "line 4 0", "line 5 0"}, reasons
    stored = await _stored(runtime, "ipv4:198.51.100.1", "ipv4:198.51.100.2", "ipv4:198.51.100.5")
    assert stored == {"ipv4:198.51.100.1": True, "ipv4:198.51.100.2": False, "ipv4:198.51.100.5": True}
    assert _published(runtime, bus) == {"ipv4:198.51.100.1", "ipv4:198.51.100.3", "ipv4:198.51.100.5"}


async def test_csv_list_with_bytes_that_are_not_utf8(api: Api, tmp_path: Path) -> None:
    """A lone surrogate written raw (``\\xed\\xa0\\x80``) and stray bytes: the file is no UTF-8; whatever a row
    keeps is storable and encodable, and every good row is kept."""
    client, runtime, bus = api
    path = tmp_path / "bytes.csv"
    path.write_bytes(
        b"198.51.100.11,Good first\n"
        b"198.51.100.12,raw surrogate \xed\xa0\x80\n"
        b"198.51.100.13,c1 control \x81\x9b\n"
        b"198.51.100.14,Good last\n"
    )
    report = await _poll_file(client, "bytes-feed", "ioc_list", path, header="none", name_column="1")
    assert report["error"] is None, report
    assert report["accepted"] + report["rejected"] == 4, report
    stored = await _stored(runtime, "ipv4:198.51.100.11", "ipv4:198.51.100.14")
    assert stored == {"ipv4:198.51.100.11": True, "ipv4:198.51.100.14": True}
    assert {"ipv4:198.51.100.11", "ipv4:198.51.100.14"} <= _published(runtime, bus)
    async with runtime.sessions() as session:
        for key in ("ipv4:198.51.100.12", "ipv4:198.51.100.13"):
            kept = await repository.get_indicator(session=session, key=key)
            if kept is not None:
                (kept.name or "").encode("utf-8")  # no lone surrogate
                assert "\x00" not in (kept.name or ""), kept


async def test_json_ioc_list_with_escaped_surrogate_and_nul(api: Api, tmp_path: Path) -> None:
    client, runtime, bus = api
    path = tmp_path / "list.json"
    path.write_text(
        '[{"ip": "198.51.100.21", "name": "Good"},'
        ' {"ip": "198.51.100.22", "name": "x\\ud800y"},'
        ' {"ip": "198.51.100.23", "name": "nul\\u0000"},'
        ' {"ip": "198.51.100.24", "name": "Good too"}]'
    )
    report = await _poll_file(
        client, "json-list", "ioc_list", path, format="json", columns={"ip": "ipv4"}, name_column="name"
    )
    assert report["error"] is None and report["accepted"] == 2 and report["rejected"] == 2, report
    reasons = await _rejections(client, "json-list")
    _assert_named(reasons, "json-list", "item 1", "lone surrogate")
    _assert_named(reasons, "json-list", "item 2", "NUL")
    assert _published(runtime, bus) == {"ipv4:198.51.100.21", "ipv4:198.51.100.24"}


# --- MISP ----------------------------------------------------------------------------------------------------


def _attribute(uuid: str, value: str, comment: str = "") -> str:
    return (
        f'{{"uuid": "{uuid}", "type": "ip-dst", "category": "Network activity", "to_ids": true,'
        f' "value": "{value}", "comment": "{comment}", "timestamp": "1700000000"}}'
    )


def _misp_event(info: str, *attributes: str, uuid: str = "5f0c0000-0000-4000-8000-00000000e001") -> str:
    return f'{{"Event": {{"uuid": "{uuid}", "info": "{info}", "Attribute": [{", ".join(attributes)}]}}}}'


async def test_misp_event_rejects_only_the_attributes_with_unstorable_text(api: Api, tmp_path: Path) -> None:
    client, runtime, bus = api
    path = tmp_path / "event.json"
    path.write_text(
        _misp_event(
            "Campaign",
            _attribute("a-good-1", "198.51.100.31", "fine"),
            _attribute("a-nul", "198.51.100.32", "c2 \\u0000 here"),
            _attribute("a-surrogate", "198.51.100.33", "\\udfff"),
            _attribute("a-escape", "198.51.100.34", "payload \\u0003\\u0006 quoted"),
            _attribute("a-good-2", "198.51.100.35", "multi\\nline\\tcomment"),
        )
    )
    report = await _poll_file(client, "misp-feed", "misp", path)
    assert report["error"] is None and report["accepted"] == 3 and report["rejected"] == 2, report
    reasons = await _rejections(client, "misp-feed")
    _assert_named(reasons, "misp-feed", "a-nul", "NUL")
    _assert_named(reasons, "misp-feed", "a-surrogate", "lone surrogate")
    assert set(reasons) == {"a-nul", "a-surrogate"}, reasons
    kept = {"ipv4:198.51.100.31", "ipv4:198.51.100.34", "ipv4:198.51.100.35"}
    assert _published(runtime, bus) == kept
    assert await _stored(runtime, *kept) == dict.fromkeys(kept, True)
    async with runtime.sessions() as session:
        quoted = await repository.get_indicator(session=session, key="ipv4:198.51.100.34")
    assert quoted is not None and quoted.description == "payload \x03\x06 quoted"


async def test_misp_event_title_with_nul_rejects_that_event_not_the_next(api: Api, tmp_path: Path) -> None:
    client, runtime, bus = api
    path = tmp_path / "events.json"
    bad = _misp_event("bad \\u0000 info", _attribute("b-1", "198.51.100.41"), uuid="ev-bad")
    good = _misp_event("Good info", _attribute("g-1", "198.51.100.42"), uuid="ev-good")
    path.write_text(f'{{"response": [{bad}, {good}]}}')
    report = await _poll_file(client, "misp-events", "misp", path)
    assert report["error"] is None and report["accepted"] == 1 and report["rejected"] == 1, report
    _assert_named(await _rejections(client, "misp-events"), "misp-events", "b-1", "NUL")
    assert _published(runtime, bus) == {"ipv4:198.51.100.42"}


# --- CSAF ----------------------------------------------------------------------------------------------------


def _advisory(shared_data: Path, tracking_id: str, **poison: str) -> str:
    document = json.loads((shared_data / "csaf/cisa-icsma/icsma-22-174-01.json").read_text())
    document["document"]["tracking"]["id"] = tracking_id
    if "title" in poison:
        document["document"]["title"] = poison["title"]
    if "remediation" in poison:
        document["vulnerabilities"][0]["remediations"][0]["details"] = poison["remediation"]
    if "product" in poison:
        document["product_tree"]["branches"][0]["name"] = poison["product"]
    return json.dumps(document, ensure_ascii=True)  # lone surrogates and NUL go out as JSON escapes


CSAF_POISON = [
    pytest.param({"title": "Bad \x00 title"}, "NUL", id="title-nul"),
    pytest.param({"title": "Bad \ud800 title"}, "lone surrogate", id="title-surrogate"),
    pytest.param({"remediation": "Update \x00 now"}, "NUL", id="remediation-nul"),
    pytest.param({"remediation": "Update \udc80 now"}, "lone surrogate", id="remediation-surrogate"),
    pytest.param({"product": "Vendor\x00"}, "NUL", id="vendor-nul"),
    pytest.param({"product": "Vendor\udfff"}, "lone surrogate", id="vendor-surrogate"),
]


@pytest.mark.parametrize(("poison", "why"), CSAF_POISON)
async def test_pushed_csaf_with_unstorable_text_is_a_rejection(
    api: Api, shared_data: Path, poison: dict[str, str], why: str
) -> None:
    client, runtime, bus = api
    bad = await client.post(
        "/api/v1/ingest/csaf?feed_id=csaf-push",
        content=_advisory(shared_data, "BAD-ADVISORY-1", **poison).encode(),
        headers=AUTH,
    )
    assert bad.status_code == 200, bad.text[:500]
    assert bad.json()["accepted"] == 0 and bad.json()["rejected"] == 1, bad.json()
    good = await client.post(
        "/api/v1/ingest/csaf?feed_id=csaf-push",
        content=_advisory(shared_data, "GOOD-ADVISORY-1").encode(),
        headers=AUTH,
    )
    assert good.status_code == 200 and good.json()["accepted"] == 1, good.text[:500]
    _assert_named(await _rejections(client, "csaf-push"), "csaf-push", "BAD-ADVISORY-1", why)
    assert _published(runtime, bus) == {"vulnerability:GOOD-ADVISORY-1"}
    stored = await _stored(runtime, "vulnerability:BAD-ADVISORY-1", "vulnerability:GOOD-ADVISORY-1")
    assert stored == {"vulnerability:BAD-ADVISORY-1": False, "vulnerability:GOOD-ADVISORY-1": True}


async def test_csaf_directory_feed_keeps_the_good_advisories(
    api: Api, shared_data: Path, tmp_path: Path
) -> None:
    client, runtime, bus = api
    folder = tmp_path / "csaf"
    folder.mkdir()
    names = {"a.json": "GOOD-A", "b.json": "BAD-B", "c.json": "GOOD-C"}
    for name, tracking_id in names.items():
        poison = {"remediation": "nul \x00"} if tracking_id.startswith("BAD") else {}
        (folder / name).write_text(_advisory(shared_data, tracking_id, **poison))
    (folder / "index.txt").write_text("\n".join(names) + "\n")
    report = await _poll_file(client, "csaf-dir", "csaf", folder, require_hash=False)
    assert report["error"] is None and report["accepted"] == 2 and report["rejected"] == 1, report
    _assert_named(await _rejections(client, "csaf-dir"), "csaf-dir", "BAD-B", "NUL")
    assert _published(runtime, bus) == {"vulnerability:GOOD-A", "vulnerability:GOOD-C"}

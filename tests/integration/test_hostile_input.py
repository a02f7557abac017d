"""Hostile input on every write route, as every role, on SQLite and PostgreSQL: never a 5xx, never a write
left behind by a refused request.

Every POST/PUT/PATCH/DELETE of the OpenAPI document is driven by hypothesis with lone surrogates, NUL and
other control characters, huge strings and numbers, wrong types and odd spellings, in the path, the query
and the body (a valid body with one field replaced, or nothing valid at all). Each call is made as the own
provider, another provider, the CSIRT, the operator or with a wrong key. The whole database is read before
and after each call: a 4xx leaves every row as it was. A few named cases pin the findings of the issue.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.json_paths import graft
from tests.support.served_api import OTHER, OWN, ServedApi

ROLES = ("provider", "other", "csirt", "operator", "wrong")
EXAMPLES = 25

HOSTILE_TEXT = (
    "\ud800",
    "name\udfffend",
    "\x00",
    "nul\x00inside",
    "\x1b[31mred",
    "line\nbreak",
    "\u202egnp.exe",
    "\ufeff",
    "x" * 100_000,
    "",
    " ",
    "²",
    "ßx",
    "٣",
    "2130706433",
    "http://0x7f.0.0.1/",
    "http://[::ffff:127.0.0.1]/",
    "../../../etc/passwd",
    "' OR 1=1 --",
    "%00",
    "0.0.0.0/0",
    # just over the bounds of columns and fields (8, 32, 64, 200, 256, 512, 1024, 4096 characters)
    *("a" * n for n in (9, 33, 65, 201, 257, 513, 1025, 4097)),
)


def _deep(levels: int) -> Any:
    value: Any = "deep"
    for _ in range(levels):
        value = [value]
    return value


HOSTILE_NUMBERS = (2**70, -(2**70), 2**63, -1, 0, 1.5, math.inf, -math.inf, math.nan)
HOSTILE_VALUES: tuple[Any, ...] = (
    *HOSTILE_TEXT,
    *HOSTILE_NUMBERS,
    True,
    None,
    [],
    {},
    ["\ud800"],
    ["\x00"] * 3,
    {"\x00": "\ud800"},
    list(range(5_000)),
    _deep(40),
)
# In a URL, 100 kB is refused by the client itself; 3,000 characters still pass every column's bound.
HOSTILE_URL_TEXT = (*(t for t in HOSTILE_TEXT if len(t) < 1000), "y" * 3000)
HOSTILE_QUERY = (*HOSTILE_URL_TEXT, "9" * 30, "-1", "1e3", "0x10", "NaN")


def _recent(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


_SIGHTING = {
    "observable": "203.0.113.77",
    "type": "ip",
    "first_seen": _recent(30),
    "last_seen": _recent(20),
    "count": 3,
    "confidence": 60,
    "kind": "scan",
    "context": "VPN brute force",
    "tlp": "amber",
}
_STIX_SIGHTING = {
    "type": "bundle",
    "id": "bundle--00000000-0000-4000-8000-0000000000b1",
    "objects": [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--00000000-0000-4000-8000-0000000000b2",
            "created": "2026-12-01T00:00:00Z",
            "modified": "2026-12-01T00:00:00Z",
            "pattern": "[ipv4-addr:value = '203.0.113.78']",
            "pattern_type": "stix",
            "valid_from": "2026-12-01T00:00:00Z",
        },
        {
            "type": "sighting",
            "spec_version": "2.1",
            "id": "sighting--00000000-0000-4000-8000-0000000000b3",
            "created": _recent(10),
            "modified": _recent(10),
            "first_seen": _recent(12),
            "last_seen": _recent(11),
            "sighting_of_ref": "indicator--00000000-0000-4000-8000-0000000000b2",
            "description": "seen on the VPN",
            "object_marking_refs": ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"],
        },
    ],
}
# A valid body per write operation; the strategy replaces one field (or the whole body) with something hostile.
SAMPLES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/sightings"): _SIGHTING,
    ("POST", "/api/v1/sightings/stix"): _STIX_SIGHTING,
    ("POST", "/api/v1/providers"): {
        "id": "new-hosp",
        "name": "New",
        "country": "DE",
        "csirt_id": "cert-de",
        "contacts": ["soc@example.org"],
        "language": "de",
    },
    ("POST", "/api/v1/csirts"): {"id": "cert-xx", "name": "CERT-XX", "country": "AT"},
    ("POST", "/api/v1/keys"): {"role": "provider", "provider_id": OWN, "name": "soc"},
    ("POST", "/api/v1/alerts/{alert_id}/status"): {
        "status": "false_positive",
        "comment": "our scanner",
        "suppress": {"scope": "asset_indicator", "expires_at": None},
    },
    ("POST", "/api/v1/suppressions"): {
        "provider_id": OWN,
        "asset_id": "ast_x",
        "indicator_key": "ipv4:192.0.2.1",
        "reason": "our scanner",
        "expires_at": "2030-01-01T00:00:00Z",
    },
    ("PATCH", "/api/v1/suppressions/{rule_id}"): {"reason": "still ours", "expires_at": None},
    ("PUT", "/api/v1/providers/{provider_id}/escalation-contact"): {"email": "duty@example.org"},
    ("PUT", "/api/v1/csirts/{csirt_id}/escalation-contact"): {"email": "duty@example.org"},
    ("POST", "/api/v1/csirts/{csirt_id}/subscriptions"): {
        "channel": "webhook",
        "target": "http://127.0.0.1:9/csirt",
        "filters": {"min_severity": "high", "known_exploited_only": True, "provider_ids": [OWN]},
        "payload_format": "json",
    },
    ("POST", "/api/v1/feeds"): {
        "id": "f2",
        "kind": "stix_bundle",
        "name": "Feed two",
        "location": "http://127.0.0.1:9/x",
        "config": {"a": "b"},
        "credentials": {"token": "t"},
        "interval_seconds": 60,
        "enabled": True,
        "default_tlp": "green",
    },
    ("PATCH", "/api/v1/feeds/{feed_id}"): {
        "name": "renamed",
        "config": {"a": "b"},
        "credentials": {"t": "x"},
    },
    ("POST", "/api/v1/providers/{provider_id}/assets"): [
        {
            "kind": "domain",
            "name": "Portal",
            "value": "portal.example.org",
            "tags": ["web"],
            "location": "DC 1",
            "owner": "IT",
            "criticality": "high",
            "not_affected": ["CVE-2024-0001"],
        },
        {
            "kind": "software",
            "vendor": "Acme",
            "product": "PACS",
            "version": "1.2",
            "purl": "pkg:npm/acme@1.2",
        },
    ],
    ("POST", "/api/v1/providers/{provider_id}/subscriptions"): {
        "channel": "webhook",
        "target": "https://hooks.example.org/x",
        "filters": {"asset_tags": ["web"], "indicator_types": ["domain-name"]},
        "payload_format": "json",
        "digest": "none",
    },
    ("PATCH", "/api/v1/subscriptions/{subscription_id}"): {"target": "https://hooks.example.org/y"},
    ("POST", "/api/v1/subscriptions/{subscription_id}/rotate-secret"): {"overlap_hours": 1},
    ("POST", "/api/v1/subscriptions/{subscription_id}/disable"): {"reason": "maintenance"},
    ("POST", "/api/v1/providers/{provider_id}/scope-approvals"): {
        "kind": "network",
        "value": "10.0.0.0/8",
        "reason": "the whole campus network",
    },
    ("POST", "/api/v1/vendor-aliases"): {
        "alias": "GE HC",
        "brand": "GE Healthcare",
        "group": "GE",
        "note": "x",
    },
    ("POST", "/api/v1/vendor-aliases/import"): [
        {"alias": "Philips HC", "brand": "Philips", "group": "Philips"}
    ],
}
RAW_BODIES = {  # operations whose body is a document, not JSON for a model
    (
        "POST",
        "/api/v1/providers/{provider_id}/assets/import",
    ): "kind,name,value\nnetwork,DMZ,198.51.100.0/24\n",
    ("POST", "/api/v1/ingest/stix"): '{"type": "bundle", "id": "bundle--x", "objects": []}',
    ("POST", "/api/v1/ingest/csaf"): '{"document": {}}',
}


def _stix_bundle(number: int, name: str, domain: str) -> str:
    """A STIX bundle of one indicator; ``name`` and ``domain`` go in as given (JSON escapes included)."""
    return (
        '{"type": "bundle", "id": "bundle--4d0f3c1e-0000-4000-8000-000000000001", "objects": [{"type": "indicator",'
        f' "spec_version": "2.1", "id": "indicator--4d0f3c1e-0000-4000-8000-00000000000{number}",'
        ' "created": "2026-11-01T00:00:00Z", "modified": "2026-11-01T00:00:00Z",'
        f' "name": "{name}", "pattern": "[domain-name:value = \'{domain}\']", "pattern_type": "stix",'
        ' "valid_from": "2026-11-01T00:00:00Z"}]}'
    )


# Documents that parse, carrying what no column or response can hold (as JSON escapes, and raw).
HOSTILE_DOCUMENTS = (
    _stix_bundle(1, "\\u0000", "nul\\u0000.example.org"),
    _stix_bundle(2, "\\ud800", "x\\ud800.example.org"),
    _stix_bundle(3, "\x00", "raw\x00.example.org"),
    "kind,name,value\nnetwork,\x00,198.51.100.0/24\n",
    "kind,name,value\ndomain,\ud800,a.example.org\n",
    "kind,name,value\ndomain," + "n" * 200_000 + ",a.example.org\n",
)
QUERY_SAMPLES = {
    "format": "csv",
    "feed_id": "push-x",
    "default_tlp": "green",
    "device": "x",
    "alias": "GE HC",
}


def _write_operations() -> list[tuple[str, str]]:
    from ewarn.api.app import create_app
    from ewarn.runtime import Runtime
    from ewarn.settings import Settings

    # collected before any fixture exists: a throw-away folder keeps the clone clean (no key file beside it)
    database = Path(tempfile.mkdtemp(prefix="ewarn-openapi-")) / "never-opened.db"
    runtime = Runtime.build(Settings(database_url=f"sqlite+aiosqlite:///{database}"))
    spec = create_app(runtime).openapi()
    return sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("post", "put", "patch", "delete")
    )


WRITE_OPERATIONS = _write_operations()
# Polling reaches out to the feed's location: only the seeded feed (on loopback) may be polled.
POLL = ("POST", "/api/v1/feeds/{feed_id}/poll")


@pytest.fixture(scope="module")
def served(module_database_url: str) -> Iterator[ServedApi]:
    with ServedApi(database_url=module_database_url) as api:
        yield api


@pytest.fixture(scope="module")
def client(served: ServedApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base_url, timeout=60) as c:
        yield c


def _path_values(served: ServedApi, name: str) -> st.SearchStrategy[str]:
    known = {
        "provider_id": [OWN, OTHER],
        "asset_id": [served.ids["asset"]],
        "subscription_id": [served.ids["subscription"]],
        "feed_id": [served.ids["feed"]],
        "alert_id": ["alr_0000"],
        "delivery_id": ["msg_0000"],
    }.get(name, ["x"])
    return st.one_of(st.sampled_from(known), st.sampled_from(HOSTILE_URL_TEXT))


def _mutated(sample: Any) -> st.SearchStrategy[Any]:
    """The sample with one field (or one field of its first item) replaced, or a hostile value instead."""
    hostile = st.sampled_from(HOSTILE_VALUES)
    whole = hostile
    if isinstance(sample, list):
        return st.one_of(whole, _mutated(sample[0]).map(lambda item: [item]), st.just(sample * 3))
    if not isinstance(sample, dict):
        return whole
    keys = [*sample, "unexpected"]
    nested = [k for k, v in sample.items() if isinstance(v, dict)]

    def replace(key: str, value: Any) -> dict[str, Any]:
        return {**sample, key: value}

    def replace_nested(key: str, value: Any) -> dict[str, Any]:
        inner = sample[key]
        return {**sample, key: {**inner, next(iter(inner)): value}}

    options = [whole, st.builds(replace, st.sampled_from(keys), hostile)]
    if nested:
        options.append(st.builds(replace_nested, st.sampled_from(nested), hostile))
    return st.one_of(*options)


def _quote(value: str) -> str:
    return quote(value, safe="", errors="surrogatepass")


def _json_bytes(value: Any) -> bytes:
    # ensure_ascii escapes lone surrogates as \\ud800 (as a hostile client would send them)
    return json.dumps(value, ensure_ascii=True).encode()


@st.composite
def _requests(draw: st.DrawFn, served: ServedApi, method: str, path: str) -> tuple[str, str, bytes, str]:
    # Mostly the roles that may write (the refusals of the others are cheap to reach and tested everywhere).
    role = draw(st.sampled_from(("operator", "operator", "operator", "provider", "provider", *ROLES)))
    url = path
    for name in [p.strip("{}") for p in path.split("/") if p.startswith("{")]:
        value = served.ids["feed"] if (method, path) == POLL else draw(_path_values(served, name))
        url = url.replace("{" + name + "}", _quote(value) or "%20")
    query = {
        key: draw(st.one_of(st.just(sample), st.sampled_from(HOSTILE_QUERY)))
        for key, sample in QUERY_SAMPLES.items()
        if draw(st.booleans())
    }
    if query:
        url += "?" + "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query.items())
    if (method, path) in RAW_BODIES:
        raw = RAW_BODIES[(method, path)]
        text = draw(
            st.one_of(st.just(raw), st.sampled_from(HOSTILE_TEXT), st.sampled_from(HOSTILE_DOCUMENTS))
        )
        body = text.encode("utf-8", errors="surrogatepass")
    else:
        body = _json_bytes(draw(_mutated(SAMPLES.get((method, path), {}))))
    return role, url, body, method


def _call(
    client: httpx.Client, served: ServedApi, role: str, method: str, url: str, body: bytes
) -> httpx.Response:
    headers = {**served.headers(role), "Content-Type": "application/json"}
    return client.request(method, url, content=body, headers=headers)


@pytest.mark.parametrize("operation", WRITE_OPERATIONS, ids=[f"{m} {p}" for m, p in WRITE_OPERATIONS])
def test_hostile_writes_never_fail_the_server_nor_leave_a_trace(
    served: ServedApi, client: httpx.Client, operation: tuple[str, str]
) -> None:
    method, path = operation

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=_requests(served, method, path))
    def check(request: tuple[str, str, bytes, str]) -> None:
        role, url, body, verb = request
        before = served.snapshot()
        response = _call(client, served, role, verb, url, body)
        assert response.status_code < 500, (
            f"{role} {verb} {url}: {response.status_code} {response.text[:500]}"
        )
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json"), response.text[
                :300
            ]
            assert served.snapshot() == before, (
                f"{role} {verb} {url} answered {response.status_code} but wrote"
            )

    check()


# The findings of the issue, one by one (each answered 500 or stored something before).
@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        pytest.param(
            "POST",
            f"/api/v1/providers/{OWN}/assets",
            {"kind": "domain", "name": "\ud800", "value": "a.example.org"},
            422,
            id="asset-name-lone-surrogate",
        ),
        pytest.param(
            "POST",
            f"/api/v1/providers/{OWN}/assets",
            {"kind": "domain", "name": "a\x00b", "value": "a.example.org"},
            422,
            id="asset-name-nul",
        ),
        pytest.param(
            "POST",
            f"/api/v1/providers/{OWN}/assets",
            {"kind": "domain", "value": "a.example.org", "tags": ["\x00"]},
            422,
            id="asset-tag-nul",
        ),
        pytest.param(
            "POST",
            "/api/v1/csirts",
            {"id": "cert-ss", "name": "S", "country": "ßx"},
            422,
            id="country-sharp-s",
        ),
        pytest.param(
            "POST",
            "/api/v1/csirts",
            {"id": "cert-ss", "name": "S", "country": "d\x00"},
            422,
            id="country-nul",
        ),
        pytest.param(
            "POST",
            "/api/v1/providers",
            {"id": "h-x", "name": "X", "country": "DE", "csirt_id": ""},
            422,
            id="empty-csirt-id",
        ),
        pytest.param(
            "POST",
            "/api/v1/providers",
            {"id": "h-x", "name": "X\x00", "country": "DE"},
            422,
            id="provider-name-nul",
        ),
        pytest.param("POST", "/api/v1/keys", {"role": "csirt", "csirt_id": ""}, 422, id="key-empty-csirt-id"),
        pytest.param("POST", "/api/v1/keys", {"role": "operator", "name": "\x00"}, 422, id="key-name-nul"),
        pytest.param(
            "POST",
            "/api/v1/feeds",
            {"id": "f-nul", "kind": "stix_bundle", "location": "http://127.0.0.1:9/\x00"},
            422,
            id="feed-location-nul",
        ),
        pytest.param(
            "POST",
            "/api/v1/feeds",
            {
                "id": "f-nul",
                "kind": "stix_bundle",
                "location": "http://127.0.0.1:9/",
                "config": {"k": "\x00"},
            },
            422,
            id="feed-config-nul",
        ),
        pytest.param(
            "POST",
            f"/api/v1/providers/{OWN}/subscriptions",
            {
                "channel": "webhook",
                "target": "https://hooks.example.org/x",
                "filters": {"asset_tags": ["\x00"]},
            },
            422,
            id="subscription-filter-nul",
        ),
        *(
            pytest.param(
                "POST",
                f"/api/v1/providers/{OWN}/subscriptions",
                {"channel": "webhook", "target": target},
                422,
                id=f"webhook-{name}",
            )
            for name, target in (
                ("decimal", "http://2130706433/hook"),
                ("hex", "http://0x7f.0.0.1/hook"),
                ("short", "http://127.1/hook"),
                ("octal", "http://0177.0.0.1/hook"),
                ("mapped", "http://[::ffff:127.0.0.1]/hook"),
                ("localhost", "http://localhost:8080/hook"),
                ("metadata-hex", "http://0xa9fea9fe/latest"),
            )
        ),
    ],
)
def test_findings_are_refused_and_leave_nothing(
    served: ServedApi, client: httpx.Client, method: str, path: str, body: Any, expected: int
) -> None:
    before = served.snapshot()
    response = client.request(
        method,
        path,
        content=_json_bytes(body),
        headers={**served.headers("operator"), "Content-Type": "application/json"},
    )
    assert response.status_code == expected, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert served.snapshot() == before


@pytest.mark.parametrize(
    ("path", "query"),
    [
        pytest.param("/api/v1/alert-events", "after=1180591620717411303424", id="after-2-pow-70"),
        pytest.param("/api/v1/alert-events", "after=%C2%B2", id="after-superscript-two"),
        pytest.param("/api/v1/alert-events", "limit=1180591620717411303424", id="limit-2-pow-70"),
        pytest.param(
            "/api/v1/feeds/seed-feed/rejections", "offset=1180591620717411303424", id="offset-2-pow-70"
        ),
        pytest.param(
            "/api/v1/feeds/seed-feed/rejections", "offset=9223372036854775808", id="offset-2-pow-63"
        ),
        pytest.param("/api/v1/alerts", "cursor=%00", id="alerts-cursor-nul"),
        pytest.param("/api/v1/alerts", "cursor=AAAA", id="alerts-cursor-not-ours"),
        pytest.param("/api/v1/alerts", "indicator_key=a%00b", id="alerts-indicator-key-nul"),
        pytest.param("/api/v1/alerts", "provider_id=a%00b", id="alerts-provider-nul"),
        pytest.param(f"/api/v1/providers/{OWN}/assets", "cursor=%00", id="assets-cursor-nul"),
        pytest.param(f"/api/v1/providers/{OWN}/assets", "limit=-1", id="assets-limit-negative"),
        pytest.param("/api/v1/providers/a%00b", "", id="provider-path-nul"),
        pytest.param("/api/v1/deliveries/dead", "provider_id=%ED%A0%80", id="dead-provider-surrogate-bytes"),
    ],
)
def test_odd_query_values_are_422(served: ServedApi, client: httpx.Client, path: str, query: str) -> None:
    response = client.get(f"{path}?{query}" if query else path, headers=served.headers("operator"))
    assert response.status_code == 422, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 422


@pytest.mark.parametrize(
    "document", HOSTILE_DOCUMENTS[:3], ids=["escaped-nul", "escaped-surrogate", "raw-nul"]
)
def test_pushed_documents_with_unstorable_text_are_answered_and_listed(
    served: ServedApi, client: httpx.Client, document: str
) -> None:
    """What ingest keeps about a refused record (its excerpt) must be storable and readable back."""
    pushed = client.post(
        "/api/v1/ingest/stix?feed_id=push-hostile",
        content=document.encode("utf-8", errors="surrogatepass"),
        headers=served.headers("operator"),
    )
    assert pushed.status_code < 500, pushed.text[:500]
    listed = client.get("/api/v1/feeds/push-hostile/rejections", headers=served.headers("operator"))
    assert listed.status_code in (200, 404), listed.text[:500]
    listed.json()


def _cyclonedx(name: str, version: str, vex_id: str = "CVE-2024-0001") -> str:
    return json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "components": [
                {
                    "type": "library",
                    "bom-ref": "c1",
                    "name": name,
                    "version": version,
                    "purl": f"pkg:npm/{name}@1",
                }
            ],
            "vulnerabilities": [
                {
                    "id": vex_id,
                    "analysis": {"state": "not_affected", "detail": name},
                    "affects": [{"ref": "c1"}],
                }
            ],
        },
        ensure_ascii=True,
    )


@pytest.mark.parametrize("fmt", ["cyclonedx", "cyclonedx-vex", "csaf-vex"])
@pytest.mark.parametrize(
    "document",
    [
        pytest.param(_cyclonedx("lib\x00x", "1.0"), id="nul-name"),
        pytest.param(_cyclonedx("lib\ud800", "1.0\ud800"), id="surrogate-name"),
        pytest.param(_cyclonedx("libz", "1.0", vex_id="CVE-2024-0001\x00"), id="nul-cve"),
        pytest.param(_cyclonedx("libz", "\x1b[2J" * 2000), id="escape-version"),
        pytest.param(
            '{"document": {"category": "csaf_vex", "title": "\\u0000"}, "vulnerabilities": []}', id="csaf-nul"
        ),
    ],
)
def test_hostile_inventory_documents_are_answered_and_leave_only_valid_rows(
    served: ServedApi, client: httpx.Client, document: str, fmt: str
) -> None:
    before = served.snapshot()
    response = client.post(
        f"/api/v1/providers/{OWN}/assets/import?format={fmt}",
        content=document.encode(),
        headers={**served.headers("operator"), "Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        assert served.snapshot() == before
    else:
        listed = client.get(f"/api/v1/providers/{OWN}/assets?limit=500", headers=served.headers("operator"))
        assert listed.status_code == 200, listed.text[:300]
        for asset in listed.json()["items"]:
            for value in asset.values():
                assert not (isinstance(value, str) and ("\x00" in value or "\x1b" in value)), asset


# --- unstorable text in each tenant-facing text field that reaches storage ----------------------------------
# One valid body per route and the fields of it that are stored; each field in turn carries a lone surrogate
# (sent as the JSON escape ``\ud800``), a NUL or a terminal escape. Each must be refused with a 422 naming the
# field, and leave every row as it was (PostgreSQL refuses NUL; JSON encoders refuse lone surrogates).


_ASSET = SAMPLES[("POST", "/api/v1/providers/{provider_id}/assets")][0]
_SOFTWARE = SAMPLES[("POST", "/api/v1/providers/{provider_id}/assets")][1]
Field_ = tuple[str | int, ...]
STORED_TEXT_FIELDS: list[tuple[str, str, str, Any, list[Field_]]] = [
    ("POST", "/api/v1/sightings", "provider", _SIGHTING, [("context",), ("observable",)]),
    ("POST", "/api/v1/sightings/stix", "provider", _STIX_SIGHTING, [("objects", 1, "description")]),
    (
        "POST",
        "/api/v1/alerts/alr_0000/status",
        "provider",
        SAMPLES[("POST", "/api/v1/alerts/{alert_id}/status")],
        [("comment",)],
    ),
    ("POST", "/api/v1/suppressions", "provider", SAMPLES[("POST", "/api/v1/suppressions")], [("reason",)]),
    (
        "PATCH",
        "/api/v1/suppressions/rule_x",
        "provider",
        SAMPLES[("PATCH", "/api/v1/suppressions/{rule_id}")],
        [("reason",)],
    ),
    (
        "POST",
        f"/api/v1/providers/{OWN}/assets",
        "provider",
        [_ASSET],
        [(0, "name"), (0, "value"), (0, "location"), (0, "owner"), (0, "tags", 0)],
    ),
    (
        "POST",
        f"/api/v1/providers/{OWN}/assets",
        "provider",
        [_SOFTWARE],
        [(0, "vendor"), (0, "product"), (0, "version")],
    ),
    (
        "POST",
        f"/api/v1/providers/{OWN}/subscriptions",
        "provider",
        SAMPLES[("POST", "/api/v1/providers/{provider_id}/subscriptions")],
        [("filters", "asset_tags", 0), ("target",)],
    ),
    (
        "POST",
        f"/api/v1/providers/{OWN}/scope-approvals",
        "operator",
        SAMPLES[("POST", "/api/v1/providers/{provider_id}/scope-approvals")],
        [("reason",), ("value",)],
    ),
    ("POST", "/api/v1/keys", "operator", SAMPLES[("POST", "/api/v1/keys")], [("name",)]),
    (
        "POST",
        "/api/v1/vendor-aliases",
        "operator",
        SAMPLES[("POST", "/api/v1/vendor-aliases")],
        [("alias",), ("brand",), ("note",)],
    ),
]
UNSTORABLE_TEXT = {"surrogate": "x\ud800y", "nul": "x\x00y", "escape": "x\x1b[2Jy"}


def _stored_text_cases() -> Iterator[Any]:
    for method, url, role, body, fields in STORED_TEXT_FIELDS:
        for path in fields:
            for name, value in UNSTORABLE_TEXT.items():
                where = ".".join(str(p) for p in path)
                yield pytest.param(
                    method, url, role, graft(body, path, value), path, id=f"{method} {url} {where} {name}"
                )


@pytest.mark.parametrize(("method", "url", "role", "body", "path"), list(_stored_text_cases()))
def test_unstorable_text_in_a_stored_field_is_refused_and_leaves_nothing(
    served: ServedApi, client: httpx.Client, method: str, url: str, role: str, body: Any, path: Field_
) -> None:
    before = served.snapshot()
    response = _call(client, served, role, method, url, _json_bytes(body))
    assert response.status_code == 422, f"{response.status_code} {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert str([p for p in path if isinstance(p, str)][-1]) in response.text, response.text[:500]
    assert served.snapshot() == before


def test_the_stored_text_samples_are_valid(served: ServedApi, client: httpx.Client) -> None:
    """Each body above is accepted as it is (so a 422 above is about the poisoned field, nothing else)."""
    for method, url, role, body, _fields in STORED_TEXT_FIELDS:
        if "alr_0000" in url or "rule_x" in url:  # no such alert or rule: a valid body gets a 404
            expected: tuple[int, ...] = (404,)
        else:
            expected = (200, 201)
        response = _call(client, served, role, method, url, _json_bytes(body))
        assert response.status_code in expected, (
            f"{method} {url}: {response.status_code} {response.text[:300]}"
        )


@pytest.mark.parametrize("name", list(UNSTORABLE_TEXT))
def test_an_inventory_csv_row_with_unstorable_text_is_refused_by_name(
    served: ServedApi, client: httpx.Client, name: str
) -> None:
    """A CSV inventory with one poisoned row among good ones: never a 5xx, and the poisoned row is never
    stored (a refused import leaves every row as it was)."""
    poison = UNSTORABLE_TEXT[name]
    document = f"kind,name,value\ndomain,Good {name},good-{name}.example.org\ndomain,{poison},bad-{name}.example.org\n"
    before = served.snapshot()
    response = client.post(
        f"/api/v1/providers/{OWN}/assets/import?format=csv",
        content=document.encode("utf-8", errors="surrogatepass"),
        headers={**served.headers("operator"), "Content-Type": "text/csv"},
    )
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        assert served.snapshot() == before
        reason = response.json()["detail"]
        assert any(word in reason for word in ("line 3", "row 2", "name", "not UTF-8 (byte")), reason
        return
    listed = client.get(f"/api/v1/providers/{OWN}/assets?limit=500", headers=served.headers("operator"))
    values = {a["value"] for a in listed.json()["items"]}
    assert f"good-{name}.example.org" in values and f"bad-{name}.example.org" not in values

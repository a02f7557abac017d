"""Every collection the REST API lists pages by cursor: a GET route answering a JSON array (or a page object
with an ``items`` array) must take a ``cursor`` query parameter, unless it is exempted here with a reason.

The exemptions are checked too: one that no longer names a collection route fails, so the list cannot rot.
"""

from __future__ import annotations

from typing import Any

import pytest

from ewarn.api.app import create_app
from ewarn.runtime import Runtime
from ewarn.settings import Settings

# path -> why it does not page; none today (the overdue view pages as of its first page's time).
EXEMPT: dict[str, str] = {}


def _spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    database = tmp_path_factory.mktemp("openapi") / "never-opened.db"
    app = create_app(Runtime.build(Settings(database_url=f"sqlite+aiosqlite:///{database}")))
    spec: dict[str, Any] = app.openapi()
    return spec


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _spec(tmp_path_factory)


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _is_collection(spec: dict[str, Any], operation: dict[str, Any]) -> bool:
    content = operation.get("responses", {}).get("200", {}).get("content", {})
    schema = _resolve(spec, content.get("application/json", {}).get("schema", {}))
    if schema.get("type") == "array":
        return True
    items = schema.get("properties", {}).get("items")
    return items is not None and _resolve(spec, items).get("type") == "array"


def _collection_routes(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        path: item["get"]
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/") and "get" in item and _is_collection(spec, item["get"])
    }


def test_the_scan_finds_the_known_lists(spec: dict[str, Any]) -> None:
    found = _collection_routes(spec)
    for path in (
        "/api/v1/providers",
        "/api/v1/alerts",
        "/api/v1/csirts/{csirt_id}/subscriptions",
        "/api/v1/keys",
    ):
        assert path in found
    assert "/api/v1/providers/{provider_id}" not in found  # one object is no collection


def test_every_list_route_takes_a_cursor(spec: dict[str, Any]) -> None:
    missing = [
        path
        for path, operation in _collection_routes(spec).items()
        if path not in EXEMPT
        and not any(p["name"] == "cursor" and p["in"] == "query" for p in operation.get("parameters", []))
    ]
    assert missing == [], f"list routes without a cursor parameter: {missing}"


def test_every_exemption_still_names_a_list_without_a_cursor(spec: dict[str, Any]) -> None:
    found = _collection_routes(spec)
    for path in EXEMPT:
        assert path in found, f"{path} is no list route any more: drop its exemption"
        assert not any(p["name"] == "cursor" for p in found[path].get("parameters", [])), f"{path} pages now"

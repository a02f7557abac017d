"""Every error answer in the OpenAPI document is declared with its media type: problem+json, or TAXII's own
error message on the TAXII routes (generated clients and fuzzers rely on it)."""

from __future__ import annotations

from ewarn.api.openapi_doc import openapi_document
from ewarn.api.problems import PROBLEM
from ewarn.api.taxii.collections import TAXII_MEDIA

METHODS = {"get", "post", "put", "patch", "delete"}


def test_every_error_response_declares_problem_json() -> None:
    document = openapi_document()
    undeclared: list[str] = []
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            for code, response in operation["responses"].items():
                if not code.isdigit() or int(code) < 400:
                    continue
                checked += 1
                media = set(response.get("content", {}))
                allowed = {PROBLEM, TAXII_MEDIA} if path.startswith("/taxii2/") else {PROBLEM}
                if not media or not media <= allowed:
                    undeclared.append(f"{method.upper()} {path} {code}: {sorted(media)}")
    assert checked > 300
    assert undeclared == []


def test_taxii_errors_are_taxii_error_messages() -> None:
    objects = openapi_document()["paths"]["/taxii2/ewarn/collections/{collection_id}/objects/"]["get"]
    assert set(objects["responses"]["404"]["content"]) == {TAXII_MEDIA}
    assert set(objects["responses"]["401"]["content"]) == {TAXII_MEDIA}  # the guard answers TAXII here
    assert set(objects["responses"]["422"]["content"]) == {TAXII_MEDIA}

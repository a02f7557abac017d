"""JSON Schema of every message that crosses a stage boundary and of the webhook payload; the OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ewarn.models.alert import Alert
from ewarn.models.asset import AssetChange
from ewarn.models.delivery import Delivery
from ewarn.models.indicator import Indicator, Rejection

MESSAGES: dict[str, type[BaseModel]] = {
    "indicator.v1.json": Indicator,  # topic ewarn.indicators.v1
    "alert.v1.json": Alert,  # topic ewarn.alerts.v1
    "asset-change.v1.json": AssetChange,  # topic ewarn.assets.v1
    "rejection.v1.json": Rejection,  # rejected records, API
    "delivery.v1.json": Delivery,  # delivery log, API
}


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema, for every exported contract."""
    from ewarn.dispatch.payload import webhook_payload_schema

    out = {name: model.model_json_schema(mode="serialization") for name, model in MESSAGES.items()}
    out["webhook-payload.v1.json"] = webhook_payload_schema()
    out["openapi.json"] = _openapi()
    return out


def _openapi() -> dict[str, Any]:
    """The API's OpenAPI document (imported late: the API is a higher layer than the message contracts)."""
    from ewarn.api.openapi_doc import openapi_document

    return openapi_document()


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in all_schemas().items():
        path = directory / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written

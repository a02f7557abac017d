"""What the audit log keeps of a write's summary: secrets replaced by name, by type and by shape; sizes bounded."""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from ewarn.models.provider import Principal, Role
from ewarn.store.repositories.audit import REDACTED, actor_of, cli_actor, decode_cursor, encode_cursor, redact


class Colour(Enum):
    RED = "red"


class Body(BaseModel):
    name: str
    password: SecretStr
    note: str = "unset"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        pytest.param({"secret": "s"}, {"secret": REDACTED}, id="name-secret"),
        pytest.param({"credentials": {"user": "u"}}, {"credentials": REDACTED}, id="name-credentials-whole"),
        pytest.param({"X-Auth": "t", "sessionId": "x"}, {"X-Auth": REDACTED, "sessionId": REDACTED}, id="name-auth"),
        pytest.param({"key": "k", "alias_key": "acme"}, {"key": REDACTED, "alias_key": "acme"}, id="name-key-exact"),
        pytest.param({"v": SecretStr("s")}, {"v": REDACTED}, id="type-secretstr"),
        pytest.param({"note": "use ewk_ab12_Zz-9 now"}, {"note": f"use {REDACTED} now"}, id="shape-api-key"),
        pytest.param({"note": "whsec_QUJD+/=="}, {"note": REDACTED}, id="shape-webhook-secret"),
        pytest.param({"h": "Bearer abc.def"}, {"h": REDACTED}, id="shape-bearer"),
        pytest.param(
            {"target": "https://u:p@h.example/x?token=t&a=1"},
            {"target": f"https://{REDACTED}@h.example/x?token={REDACTED}&a={REDACTED}"},
            id="url-userinfo-and-query",
        ),
        pytest.param({"c": Colour.RED, "n": 3, "b": True, "z": None}, {"c": "red", "n": 3, "b": True, "z": None},
                     id="plain-values-kept"),
        pytest.param(Body(name="n", password=SecretStr("pw")), {"name": "n", "password": REDACTED},
                     id="model-set-fields-only"),
    ],
)  # fmt: skip
def test_redact(given: Any, kept: Any) -> None:
    assert redact(given) == kept


def test_sizes_are_bounded() -> None:
    out = redact({"long": "x" * 5000, "many": list(range(500)), "deep": {"a": {"b": {"c": {"d": {"e": 1}}}}}})
    assert len(out["long"]) == 200
    assert len(out["many"]) == 50
    assert out["deep"]["a"]["b"]["c"] == "..."


def test_actors() -> None:
    principal = Principal(key_id="abc", role=Role.PROVIDER, provider_id="hosp-a", name="SOC")
    assert (actor_of(principal).id, actor_of(principal).role, actor_of(principal).name) == (
        "abc",
        "provider",
        "SOC",
    )
    assert cli_actor().id.startswith("cli:") and cli_actor().role == "cli"


@pytest.mark.parametrize(
    "cursor", [pytest.param("!!", id="not-base64"), pytest.param("YWJj", id="not-a-number")]
)
def test_foreign_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="invalid cursor"):
        decode_cursor(cursor)


def test_cursor_round_trip() -> None:
    assert decode_cursor(encode_cursor(12345)) == 12345

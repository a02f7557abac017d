"""Settings come from EWARN_* variables, nested sections with __, and an optional JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ewarn.settings import load_settings


def test_defaults_are_the_embedded_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("EWARN_DATABASE_URL", "EWARN_KAFKA__BOOTSTRAP", "EWARN_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings()
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.kafka.bootstrap is None


def test_environment_and_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EWARN_DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1/ewarn")
    monkeypatch.setenv("EWARN_KAFKA__BOOTSTRAP", "127.0.0.1:9092")
    monkeypatch.setenv("EWARN_DISPATCH__MAX_ATTEMPTS", "3")
    settings = load_settings()
    assert settings.database_url == "postgresql+asyncpg://u@127.0.0.1/ewarn"
    assert settings.kafka.bootstrap == "127.0.0.1:9092"
    assert settings.dispatch.max_attempts == 3


def test_config_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "ewarn.json"
    cfg.write_text(json.dumps({"api_port": 9999, "smtp": {"host": "127.0.0.2", "port": 2525}}))
    monkeypatch.setenv("EWARN_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("EWARN_SMTP__PORT", "1025")
    settings = load_settings()
    assert settings.api_port == 9999
    assert settings.smtp.host == "127.0.0.2"
    assert settings.smtp.port == 1025


def test_secrets_are_not_in_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EWARN_BOOTSTRAP_OPERATOR_KEY", "ewk_supersecret")
    settings = load_settings()
    assert "ewk_supersecret" not in repr(settings)
    assert settings.bootstrap_operator_key is not None
    assert settings.bootstrap_operator_key.get_secret_value() == "ewk_supersecret"

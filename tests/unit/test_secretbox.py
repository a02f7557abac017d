"""The secret box (MultiFernet sealing of stored secrets) and where its keys come from."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook

from ewarn.crypto.keyring import KEY_FILE_SUFFIX, key_file_for, read_or_create_key_file, secret_box_for
from ewarn.crypto.secretbox import (
    PREFIX,
    SecretBox,
    SecretUnreadable,
    generate_key,
    is_sealed,
    new_webhook_secret,
    parse_keys,
)
from ewarn.errors import ConfigurationError
from ewarn.settings import SecretsSettings, Settings

SECRET = "whsec_c2VjcmV0LXZhbHVlLW9mLTMyLWJ5dGVzLWxvbmctLS0="
OLD, NEW, STRANGER = generate_key(), generate_key(), generate_key()


def test_sealed_value_hides_the_secret_and_opens_to_it() -> None:
    box = SecretBox([NEW])
    sealed = box.seal(SECRET)
    assert sealed.startswith(PREFIX) and SECRET not in sealed and SECRET[6:] not in sealed
    assert box.open(sealed, row="r") == SECRET
    assert box.seal(SECRET) != sealed, "every seal is fresh (random IV)"


def test_plaintext_from_before_encryption_passes_through() -> None:
    assert SecretBox([NEW]).open(SECRET, row="r") == SECRET
    assert not is_sealed(SECRET)


def test_older_key_still_opens_newest_key_seals() -> None:
    sealed_old = SecretBox([OLD]).seal(SECRET)
    both = SecretBox([NEW, OLD])
    assert both.open(sealed_old, row="r") == SECRET
    assert not both.is_current(sealed_old)
    assert SecretBox([NEW]).open(both.seal(SECRET), row="r") == SECRET


def test_wrong_key_names_the_row_never_the_value() -> None:
    sealed = SecretBox([OLD]).seal(SECRET)
    with pytest.raises(SecretUnreadable) as caught:
        SecretBox([STRANGER]).open(sealed, row="subscription sub_1 (secret)")
    message = str(caught.value)
    assert "subscription sub_1 (secret)" in message and "EWARN_SECRETS__KEYS" in message
    assert SECRET not in message and sealed not in message
    assert isinstance(caught.value, ConfigurationError)


@pytest.mark.parametrize(
    ("stored", "expect_change"),
    [
        pytest.param(SECRET, True, id="plaintext-gets-sealed"),
        pytest.param(SecretBox([OLD]).seal(SECRET), True, id="older-key-gets-resealed"),
        pytest.param(SecretBox([NEW]).seal(SECRET), False, id="newest-key-left-alone"),
    ],
)
def test_reseal(stored: str, expect_change: bool) -> None:
    box = SecretBox([NEW, OLD])
    fresh = box.reseal(stored, row="r")
    assert (fresh is not None) is expect_change
    if fresh is not None:
        assert box.is_current(fresh) and SecretBox([NEW]).open(fresh, row="r") == SECRET


def test_json_secrets_round_trip_and_reseal() -> None:
    credentials = {"username": "u", "password": "pw-123", "headers": {"X-Key": "k"}}
    old = SecretBox([OLD]).seal_json(credentials)
    assert set(old) == {"encrypted"} and "pw-123" not in str(old)
    box = SecretBox([NEW, OLD])
    assert box.open_json(old, row="f") == credentials
    fresh = box.reseal_json(old, row="f")
    assert fresh is not None and SecretBox([NEW]).open_json(fresh, row="f") == credentials
    assert box.reseal_json(fresh, row="f") is None
    assert (
        box.seal_json({}) == {} and box.open_json({}, row="f") == {} and box.reseal_json({}, row="f") is None
    )
    assert box.open_json(credentials, row="f") == credentials, "plaintext mapping passes through"
    assert box.reseal_json(credentials, row="f") is not None


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        pytest.param([], "no secrets key", id="none"),
        pytest.param(["not-a-key"], "key 1 of EWARN_SECRETS__KEYS", id="garbage"),
        pytest.param([NEW, "c2hvcnQ="], "key 2 of EWARN_SECRETS__KEYS", id="second-too-short"),
        pytest.param(["ключ"], "key 1 of EWARN_SECRETS__KEYS", id="non-ascii"),
    ],
)
def test_bad_keys_are_configuration_errors(keys: list[str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        SecretBox(keys)
    assert all(k not in str(caught.value) for k in keys if k)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a,b", ["a", "b"], id="comma"),
        pytest.param(" a , ,b ,", ["a", "b"], id="blanks"),
        pytest.param("a\nb\n", ["a", "b"], id="lines-of-a-key-file"),
        pytest.param("", [], id="empty"),
    ],
)
def test_parse_keys(text: str, expected: list[str]) -> None:
    assert parse_keys(text) == expected


def test_new_webhook_secret_verifies() -> None:
    secret = new_webhook_secret()
    assert secret.startswith("whsec_") and secret != new_webhook_secret()
    Webhook(secret)  # the Standard Webhooks library accepts it


def test_embedded_default_creates_a_private_key_file_beside_the_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ewarn.db'}"
    path = key_file_for(url)
    assert path == tmp_path / f"ewarn.db{KEY_FILE_SUFFIX}"
    box = secret_box_for(keys=None, database_url=url)
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = read_or_create_key_file(path)
    assert len(keys) == 1 and SecretBox(keys).open(box.seal(SECRET), row="r") == SECRET


def test_configured_keys_win_and_no_key_file_is_written(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ewarn.db'}"
    box = secret_box_for(keys=SecretStr(f"{NEW},{OLD}"), database_url=url)
    assert box.key_count == 2 and not (tmp_path / f"ewarn.db{KEY_FILE_SUFFIX}").exists()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite+aiosqlite:///:memory:", id="sqlite-memory"),
        pytest.param("sqlite+aiosqlite://", id="sqlite-no-file"),
    ],
)
def test_in_memory_database_gets_a_process_key(url: str) -> None:
    assert key_file_for(url) is None
    box = secret_box_for(keys=None, database_url=url)
    assert box.open(box.seal(SECRET), row="r") == SECRET


def test_postgresql_requires_the_setting() -> None:
    url = "postgresql+asyncpg://ewarn@127.0.0.1:1/ewarn"
    with pytest.raises(ConfigurationError, match="EWARN_SECRETS__KEYS is required with a postgresql"):
        secret_box_for(keys=None, database_url=url)
    assert secret_box_for(keys=SecretStr(NEW), database_url=url).key_count == 1


def test_keys_come_from_the_environment_and_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EWARN_SECRETS__KEYS", f"{NEW},{OLD}")
    settings = Settings()
    assert settings.secrets.keys is not None
    assert parse_keys(settings.secrets.keys.get_secret_value()) == [NEW, OLD]
    assert NEW not in repr(settings) and NEW not in settings.model_dump_json()
    assert SecretsSettings().keys is None

"""``ewarn keys``, ``ewarn providers`` and ``ewarn subscriptions`` against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from ewarn.cli import app
from ewarn.models.subscription import Channel, SubscriptionFilters
from ewarn.store.db import create_engine, session_factory
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.repositories.principals import authenticate_key
from ewarn.store.repositories.subscriptions import create_subscription


@pytest.fixture
def database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("EWARN_DATABASE_URL", database_url)
    monkeypatch.delenv("EWARN_KAFKA__BOOTSTRAP", raising=False)
    monkeypatch.delenv("EWARN_BOOTSTRAP_OPERATOR_KEY", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    yield database_url


def _authenticates(url: str, key: str) -> str | None:
    async def check() -> str | None:
        engine = create_engine(url)
        await upgrade_to_head(engine)
        async with session_factory(engine)() as session:
            principal = await authenticate_key(session=session, key=key)
        await engine.dispose()
        return principal.provider_id or principal.role.value if principal else None

    return asyncio.run(check())


def _subscribe(url: str, provider_id: str) -> str:
    async def add() -> str:
        engine = create_engine(url)
        async with session_factory(engine)() as session:
            sub, _ = await create_subscription(
                session=session,
                provider_id=provider_id,
                channel=Channel.EMAIL,
                target="soc@hosp-cli.example.org",
                filters=SubscriptionFilters(),
            )
            await session.commit()
        await engine.dispose()
        return sub.id

    return asyncio.run(add())


def test_providers_keys_and_subscriptions_from_the_shell(database: str) -> None:
    runner = CliRunner()
    added = runner.invoke(
        app, ["providers", "add", "--id", "hosp-cli", "--name", "CLI Hospital", "--country", "fr"]
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["providers", "list"])
    assert "hosp-cli\tFR\t-\ten\tCLI Hospital" in listed.stdout

    created = runner.invoke(
        app, ["keys", "create", "--role", "provider", "--provider-id", "hosp-cli", "--name", "soc"]
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert _authenticates(database, key) == "hosp-cli"

    keys = runner.invoke(app, ["keys", "list"])
    (line,) = [row for row in keys.stdout.splitlines() if "\thosp-cli\t" in row]
    key_id = line.split("\t")[0]
    assert "\tactive\tsoc\t" in line and key not in keys.stdout

    rotated = runner.invoke(app, ["keys", "rotate", key_id])
    assert rotated.exit_code == 0, rotated.output
    new_key = rotated.stdout.strip()
    assert _authenticates(database, key) is None and _authenticates(database, new_key) == "hosp-cli"
    new_id = next(
        r.split("\t")[0] for r in runner.invoke(app, ["keys", "list"]).stdout.splitlines() if "hosp-cli" in r
    )

    revoked = runner.invoke(app, ["keys", "revoke", new_id])
    assert revoked.exit_code == 0 and "\trevoked\t" in revoked.stdout
    assert _authenticates(database, new_key) is None
    everything = runner.invoke(app, ["keys", "list", "--all"]).stdout
    assert everything.count("\trevoked\t") == 2

    sub_id = _subscribe(database, "hosp-cli")
    subs = runner.invoke(app, ["subscriptions", "list", "--provider-id", "hosp-cli"])
    assert subs.exit_code == 0 and f"{sub_id}\thosp-cli\temail\tsoc@hosp-cli.example.org\tyes" in subs.stdout
    assert sub_id not in runner.invoke(app, ["subscriptions", "list", "--provider-id", "hosp-other"]).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["providers", "add", "--id", "x y", "--name", "X", "--country", "FR"], "id", id="bad-id"
        ),
        pytest.param(
            ["providers", "add", "--id", "xy", "--name", "X", "--country", "FRA"], "country", id="bad-country"
        ),
        pytest.param(
            ["providers", "add", "--id", "xy", "--name", "X", "--country", "FR", "--csirt-id", "nope"],
            "unknown CSIRT",
            id="unknown-csirt",
        ),
        pytest.param(
            ["keys", "create", "--role", "provider", "--provider-id", "nope"],
            "unknown provider",
            id="key-unknown-provider",
        ),
        pytest.param(["keys", "create", "--role", "provider"], "provider_id", id="key-without-tenant"),
        pytest.param(
            ["keys", "create", "--role", "operator", "--expires-at", "2001-01-01"], "future", id="key-expired"
        ),
        pytest.param(["keys", "revoke", "0000000000000000"], "no key", id="revoke-unknown"),
        pytest.param(["keys", "rotate-bootstrap"], "EWARN_BOOTSTRAP_OPERATOR_KEY", id="bootstrap-unset"),
    ],
)
def test_refusals_name_the_problem(database: str, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert message in result.output


def test_rotate_bootstrap_generates_a_strong_key(database: str) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["keys", "rotate-bootstrap", "--generate"])
    assert first.exit_code == 0, first.output
    key = first.stdout.strip()
    assert _authenticates(database, key) == "operator"
    second = runner.invoke(app, ["keys", "rotate-bootstrap", "--generate"])
    assert (
        _authenticates(database, key) is None
        and _authenticates(database, second.stdout.strip()) == "operator"
    )

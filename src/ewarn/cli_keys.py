"""``ewarn keys create|list|revoke|rotate|rotate-bootstrap``: API keys from the shell.

A new key is printed once, alone on standard output (so ``KEY=$(ewarn keys create ...)`` works); its
metadata goes to standard error. Revocation holds at once in every process: the API reads the key's row on
every request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

import typer
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.apikeys import generate_strong_key
from ewarn.bootstrapkey import checked_bootstrap_key
from ewarn.cli_support import cli_actor, run_in_session
from ewarn.errors import ConfigurationError
from ewarn.models.apikey import ApiKeyInfo
from ewarn.models.common import utcnow
from ewarn.models.provider import Principal, Role
from ewarn.settings import Settings
from ewarn.store.repositories import audit
from ewarn.store.repositories import principals as repo
from ewarn.store.tables import ApiKeyRow

app = typer.Typer(help="API keys: create, list, revoke, rotate.", no_args_is_help=True)
EXIT_REFUSED = 1
T = TypeVar("T")


def _say(text: str) -> None:
    """A message for the person at the terminal (standard error; standard output stays machine-readable)."""
    typer.echo(text, err=True)


_OPERATOR = Principal(key_id="cli", role=Role.OPERATOR, name="cli")  # the shell acts as an operator

ExpiresOption = Annotated[
    datetime | None,
    typer.Option(
        help="When the key stops working (UTC if no offset is given).",
        formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
    ),
]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if value <= utcnow():
        _say("--expires-at must lie in the future")
        raise typer.Exit(EXIT_REFUSED)
    return value


def _row_line(info: ApiKeyInfo) -> str:
    tenant = info.provider_id or info.csirt_id or "-"
    stamp = [info.created_at, info.expires_at, info.last_used_at, info.revoked_at]
    when = [s.isoformat(timespec="seconds") if s else "-" for s in stamp]
    return "\t".join([info.id, info.role.value, tenant, info.state.value, info.name or "-", *when])


def _run_or_refuse(work: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    """Run ``work``; a refusal (unknown tenant, missing setting) is said on standard error, exit code 1."""
    try:
        return run_in_session(work)
    except (ConfigurationError, ValueError) as exc:
        _say(str(exc))
        raise typer.Exit(EXIT_REFUSED) from None


async def _get(session: AsyncSession, key_id: str) -> ApiKeyRow:
    row = await repo.get_api_key(session=session, principal=_OPERATOR, key_id=key_id)
    if row is None:
        _say(f"no key {key_id!r}")
        raise typer.Exit(EXIT_REFUSED)
    return row


@app.command("create")
def create(
    role: Annotated[Role, typer.Option(help="operator | csirt | provider")],
    provider_id: Annotated[str | None, typer.Option()] = None,
    csirt_id: Annotated[str | None, typer.Option()] = None,
    name: Annotated[str, typer.Option()] = "",
    expires_at: ExpiresOption = None,
) -> None:
    """Create an API key and print it once."""
    expiry = _utc(expires_at)

    async def work(session: AsyncSession, _: Settings) -> tuple[ApiKeyInfo, str]:
        if provider_id and await repo.get_provider(session=session, provider_id=provider_id) is None:
            raise ValueError(f"unknown provider {provider_id!r}")
        if csirt_id and csirt_id not in {c.id for c in await repo.list_csirts(session=session)}:
            raise ValueError(f"unknown CSIRT {csirt_id!r}")
        principal, key = await repo.create_api_key(
            session=session,
            role=role,
            provider_id=provider_id,
            csirt_id=csirt_id,
            name=name,
            expires_at=expiry,
        )
        row = await session.get(ApiKeyRow, principal.key_id)
        assert row is not None
        info = repo.key_info(row)
        summary = {"role": role, "provider_id": provider_id, "csirt_id": csirt_id, "name": name}
        await audit.record_audit(
            session, audit.cli_actor(), "create", "api_key", [info.id], summary, provider_id=provider_id
        )
        await session.commit()
        return info, key

    info, key = _run_or_refuse(work)
    _say(f"created key {info.id} ({info.role.value}); it is shown once:")
    typer.echo(key)


@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Also revoked and expired keys.")] = False,
) -> None:
    """One line per key: id, role, tenant, state, name, created, expires, last used, revoked."""

    async def work(session: AsyncSession, _: Settings) -> list[ApiKeyInfo]:
        return await repo.list_api_keys(session=session, principal=_OPERATOR, include_inactive=all_)

    typer.echo("id\trole\ttenant\tstate\tname\tcreated\texpires\tlast_used\trevoked")
    for info in run_in_session(work):
        typer.echo(_row_line(info))


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke a key now (every process refuses it from its next request)."""

    async def work(session: AsyncSession, _: Settings) -> ApiKeyInfo:
        info = await repo.revoke_api_key(session=session, row=await _get(session, key_id), by=cli_actor())
        await audit.record_audit(
            session, audit.cli_actor(), "revoke", "api_key", [key_id], None, provider_id=info.provider_id
        )
        await session.commit()
        return info

    typer.echo(_row_line(run_in_session(work)))


@app.command("rotate")
def rotate(
    key_id: Annotated[str, typer.Argument()],
    grace_seconds: Annotated[int, typer.Option(min=0, max=7 * 24 * 3600, help="Old key keeps working.")] = 0,
    expires_at: ExpiresOption = None,
) -> None:
    """Replace a key by a new one (same role, tenant, name); prints the new key once."""
    expiry = _utc(expires_at)

    async def work(session: AsyncSession, _: Settings) -> tuple[ApiKeyInfo, str]:
        row = await _get(session, key_id)
        info, key = await repo.rotate_api_key(
            session=session,
            row=row,
            by=cli_actor(),
            expires_at=expiry,
            grace=timedelta(seconds=grace_seconds),
        )
        summary = {"grace_seconds": grace_seconds}
        await audit.record_audit(
            session,
            audit.cli_actor(),
            "rotate",
            "api_key",
            [key_id, info.id],
            summary,
            provider_id=info.provider_id,
        )
        await session.commit()
        return info, key

    info, key = _run_or_refuse(work)
    _say(f"key {key_id} replaced by {info.id}; the new key is shown once:")
    typer.echo(key)


@app.command("rotate-bootstrap")
def rotate_bootstrap(
    generate: Annotated[
        bool, typer.Option("--generate", help="Make a new key and print it, instead of the configured one.")
    ] = False,
) -> None:
    """Revoke the bootstrap operator key(s) and store EWARN_BOOTSTRAP_OPERATOR_KEY (or a generated key)."""

    async def work(session: AsyncSession, settings: Settings) -> ApiKeyInfo:
        if generate:
            key = generate_strong_key()
        elif settings.bootstrap_operator_key is None:
            raise ConfigurationError("set EWARN_BOOTSTRAP_OPERATOR_KEY to the new key, or pass --generate")
        else:
            key = settings.bootstrap_operator_key.get_secret_value()
        checked_bootstrap_key(SecretStr(key))
        info = await repo.rotate_bootstrap_key(session=session, key=key, by=cli_actor())
        await audit.record_audit(
            session, audit.cli_actor(), "rotate_bootstrap", "api_key", [info.id], {"generated": generate}
        )
        await session.commit()
        if generate:
            typer.echo(key)
        return info

    info = _run_or_refuse(work)
    replaced = f" (replacing {info.rotated_from})" if info.rotated_from else ""
    _say(f"bootstrap operator key is now {info.id}{replaced}")

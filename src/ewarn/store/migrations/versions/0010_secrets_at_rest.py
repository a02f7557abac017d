"""secrets at rest: seal stored webhook signing secrets and feed credentials with the operator's key

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:05:00.000000

No schema change: ``subscriptions.secret``/``previous_secret`` become ``fernet:<token>`` and ``feeds.credentials``
becomes ``{"encrypted": "fernet:<token>"}``. The key comes from the environment, exactly as at start-up:
``EWARN_SECRETS__KEYS`` (or ``EWARN_CONFIG_FILE``), else on SQLite the key file beside the database (created when
missing). A database holding plaintext secrets and no key to seal them with (PostgreSQL without
``EWARN_SECRETS__KEYS``) stops the upgrade with that message and changes nothing; an empty one needs no key.
Downgrade opens every sealed value again (same key needed when there is one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from ewarn.crypto.keyring import secret_box_for
from ewarn.crypto.secretbox import SecretBox, is_sealed, is_sealed_json
from ewarn.errors import ConfigurationError
from ewarn.settings import load_settings

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BATCH = 200
_subscriptions = sa.table(
    "subscriptions",
    sa.column("id", sa.String),
    sa.column("secret", sa.String),
    sa.column("previous_secret", sa.String),
)
_feeds = sa.table("feeds", sa.column("id", sa.String), sa.column("credentials", sa.JSON))
_COLUMNS = ("secret", "previous_secret")


def _box(bind: sa.Connection, *, why: str) -> SecretBox:
    url = bind.engine.url.render_as_string(hide_password=False)
    try:
        return secret_box_for(keys=load_settings().secrets.keys, database_url=url)
    except ConfigurationError as exc:
        raise ConfigurationError(f"migration 0010 {why}: {exc}") from None


def _rows(bind: sa.Connection, table: Any, *columns: Any) -> Iterator[list[Any]]:
    after = ""
    while True:
        page = list(
            bind.execute(
                sa.select(table.c.id, *columns).where(table.c.id > after).order_by(table.c.id).limit(_BATCH)
            )
        )
        if not page:
            return
        yield page
        after = page[-1].id


def _convert(bind: sa.Connection, *, text: Callable[[str, str], str], data: Any) -> None:
    """Rewrite every subscription secret with ``text`` and every feed's credentials with ``data``."""
    for page in _rows(bind, _subscriptions, _subscriptions.c.secret, _subscriptions.c.previous_secret):
        for row in page:
            values = {
                c: text(getattr(row, c), f"subscription {row.id} ({c})") for c in _COLUMNS if getattr(row, c)
            }
            changed = {c: v for c, v in values.items() if v != getattr(row, c)}
            if changed:
                bind.execute(_subscriptions.update().where(_subscriptions.c.id == row.id).values(changed))
    for page in _rows(bind, _feeds, _feeds.c.credentials):
        for row in page:
            fresh = data(row.credentials, f"feed {row.id} (credentials)")
            if fresh is not None:
                bind.execute(_feeds.update().where(_feeds.c.id == row.id).values(credentials=fresh))


def _any_stored(bind: sa.Connection, *, sealed: bool) -> bool:
    """Whether any stored secret is sealed (``sealed=True``) or still plaintext (``sealed=False``)."""
    for page in _rows(bind, _subscriptions, _subscriptions.c.secret, _subscriptions.c.previous_secret):
        if any(is_sealed(getattr(r, c)) == sealed for r in page for c in _COLUMNS if getattr(r, c)):
            return True
    for page in _rows(bind, _feeds, _feeds.c.credentials):
        if any(is_sealed_json(r.credentials) == sealed for r in page if r.credentials):
            return True
    return False


def upgrade() -> None:
    bind = op.get_bind()
    if not _any_stored(bind, sealed=False):
        return
    box = _box(bind, why="must encrypt the stored secrets")

    def data(stored: Any, row: str) -> Any:
        return None if not stored or is_sealed_json(stored) else box.seal_json(stored)

    _convert(
        bind,
        text=lambda stored, row: stored if is_sealed(stored) else box.seal(stored),
        data=data,
    )


def downgrade() -> None:
    bind = op.get_bind()
    if not _any_stored(bind, sealed=True):
        return
    box = _box(bind, why="must decrypt the stored secrets")

    def data(stored: Any, row: str) -> Any:
        return box.open_json(stored, row=row) if is_sealed_json(stored) else None

    _convert(bind, text=lambda stored, row: box.open(stored, row=row), data=data)

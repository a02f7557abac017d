"""API key lifecycle: expiry, last use, revocation (when and by whom) and the key a rotation replaced

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:05:00.000000

Every column is nullable: a key stored before this revision never expires and has not been used since.
Keys revoked before it (``revoked`` true) get ``revoked_at`` = their creation time, the only time known.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_COLUMNS = ("rotated_from", "revoked_by", "revoked_at", "last_used_at", "expires_at")


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoked_by", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("rotated_from", sa.String(length=64), nullable=True))
    keys = sa.table(
        "api_keys",
        sa.column("revoked", sa.Boolean()),
        sa.column("revoked_at", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        keys.update()
        .where(keys.c.revoked.is_(True), keys.c.revoked_at.is_(None))
        .values(revoked_at=keys.c.created_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        for name in _COLUMNS:
            batch_op.drop_column(name)

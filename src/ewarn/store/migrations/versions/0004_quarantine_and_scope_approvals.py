"""quarantined records and asset-scope approvals

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 09:00:00.000000

``quarantine`` holds each record a stage could not serialise, store, publish or deliver (set aside alone, so
the rest of its batch flows); ``scope_approvals`` records which operator allowed which provider an asset wider
than the scope rules allow, when and why.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint("kind", "key", name="uq_quarantine_kind_key"),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index("ix_quarantine_provider_id", ["provider_id"], unique=False)
        batch_op.create_index("ix_quarantine_last_seen_at", ["last_seen_at"], unique=False)

    op.create_table(
        "scope_approvals",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("approved_by", sa.String(length=255), nullable=False),
        sa.Column("approved_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_scope_approvals_provider_id_providers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scope_approvals")),
        sa.UniqueConstraint("provider_id", "kind", "value", name="uq_scope_approvals_provider_id"),
    )
    with op.batch_alter_table("scope_approvals", schema=None) as batch_op:
        batch_op.create_index("ix_scope_approvals_provider_id", ["provider_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scope_approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_scope_approvals_provider_id")
    op.drop_table("scope_approvals")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantine_last_seen_at")
        batch_op.drop_index("ix_quarantine_provider_id")
    op.drop_table("quarantine")

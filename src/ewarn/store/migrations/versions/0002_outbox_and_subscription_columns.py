"""outbox digests and replays; subscription disable and soft-delete times

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 16:50:00.000000

The tables gained these columns after 0001 was generated; without them every role started with
``ewarn run`` (which migrates, never ``create_all``) fails on its first subscription or delivery query.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest_key", sa.String(length=64), nullable=True))
        # existing rows have had no replay: their whole attempt count is in the current budget
        batch_op.add_column(
            sa.Column("attempts_before_replay", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("disabled_at")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("replayed_at")
        batch_op.drop_column("attempts_before_replay")
        batch_op.drop_column("digest_key")

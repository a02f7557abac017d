"""feed health: records skipped and counts by reason (ingest honesty)

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03 09:10:00.000000

What a parser leaves out on purpose (MISP context attributes, empty rows) or notes (version expressions it
cannot read) is counted per feed, so a feed that yields nothing says why.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("skipped_total", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("counts", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("counts")
        batch_op.drop_column("skipped_total")

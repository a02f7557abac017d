"""sighting relay (issue 15): the sightings table behind the relay and the firewall blocklists

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 12:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sightings",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=128), nullable=False),  # a provider id or feed:<feed id>
        sa.Column("indicator_key", sa.String(length=1024), nullable=False),
        sa.Column("indicator_type", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("held_reason", sa.String(length=32), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("confirmed_by", sa.String(length=64), nullable=True),
        sa.Column("confirmed_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sightings")),
    )
    op.create_index("ix_sightings_provider_id", "sightings", ["provider_id"], unique=False)
    op.create_index("ix_sightings_received_at", "sightings", ["received_at"], unique=False)
    op.create_index("ix_sightings_expires_at", "sightings", ["expires_at"], unique=False)
    op.create_index("ix_sightings_key_expires", "sightings", ["indicator_key", "expires_at"], unique=False)


def downgrade() -> None:
    for name in ("ix_sightings_key_expires", "ix_sightings_expires_at", "ix_sightings_received_at"):
        op.drop_index(name, table_name="sightings")
    op.drop_index("ix_sightings_provider_id", table_name="sightings")
    op.drop_table("sightings")

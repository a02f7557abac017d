"""vendor aliases operators manage, and their audit trail

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:00:00.000000

``vendor_aliases`` holds the operator's spellings (folded key, as written, brand, owner group, note) applied on
top of the shipped table in ``ewarn/names/vendor_aliases.json``; ``vendor_alias_changes`` records every add,
update and removal with who, when, before and after.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "vendor_aliases",
        sa.Column("alias_key", sa.String(length=255), nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("brand", sa.String(length=255), nullable=False),
        sa.Column("owner_group", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("alias_key", name=op.f("pk_vendor_aliases")),
    )
    op.create_table(
        "vendor_alias_changes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("alias_key", sa.String(length=255), nullable=False),
        sa.Column("before", _JSON, nullable=True),
        sa.Column("after", _JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendor_alias_changes")),
    )
    with op.batch_alter_table("vendor_alias_changes", schema=None) as batch_op:
        batch_op.create_index("ix_vendor_alias_changes_at", ["at"], unique=False)
        batch_op.create_index("ix_vendor_alias_changes_alias_key", ["alias_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vendor_alias_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_vendor_alias_changes_alias_key")
        batch_op.drop_index("ix_vendor_alias_changes_at")
    op.drop_table("vendor_alias_changes")
    op.drop_table("vendor_aliases")

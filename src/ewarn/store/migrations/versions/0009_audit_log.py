"""audit log (reserved; filled by the audit work)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:05:00.000000
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

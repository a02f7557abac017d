"""alert workflow (issue 14): state history, deadlines and reminders, suppression rules, CSIRT subscriptions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 12:30:00.000000

RESERVED: filled by the engineer who owns this revision this round.
"""

from __future__ import annotations

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

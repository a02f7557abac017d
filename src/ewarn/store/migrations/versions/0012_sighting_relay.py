"""sighting relay (issue 15): sightings, sector indicators, blocklist entries

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 12:30:00.000000

RESERVED: filled by the engineer who owns this revision this round.
"""

from __future__ import annotations

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

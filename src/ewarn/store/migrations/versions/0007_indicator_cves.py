"""advisories by CVE: indicator_cves (ingest marks an advisory known exploited when KEV lists one of its CVEs)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00.000000

One row per (advisory indicator, CVE it names), indexed by CVE. Advisories stored before this revision are
filled in from their stored indicator so a later KEV entry finds them too.
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)
_CHUNK = 500


def upgrade() -> None:
    op.create_table(
        "indicator_cves",
        sa.Column("indicator_key", sa.String(length=1024), nullable=False),
        sa.Column("cve", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("indicator_key", "cve", name="pk_indicator_cves"),
    )
    op.create_index("ix_indicator_cves_cve", "indicator_cves", ["cve"], unique=False)
    _backfill()


def _backfill() -> None:
    indicators = sa.table("indicators", sa.column("key", sa.String), sa.column("type", sa.String))
    data = sa.column("data", sa.JSON)
    target = sa.table("indicator_cves", sa.column("indicator_key", sa.String), sa.column("cve", sa.String))
    bind = op.get_bind()
    rows: list[dict[str, str]] = []
    query = (
        sa.select(indicators.c.key, data).select_from(indicators).where(indicators.c.type == "vulnerability")
    )
    for key, stored in bind.execute(query):
        for cve in _advisory_cves(key, stored):
            rows.append({"indicator_key": key, "cve": cve})
    for start in range(0, len(rows), _CHUNK):
        bind.execute(target.insert(), rows[start : start + _CHUNK])


def _advisory_cves(key: str, stored: Any) -> list[str]:
    """The CVEs an advisory names (none for an indicator that is itself one CVE)."""
    document = json.loads(stored) if isinstance(stored, str) else stored
    if not isinstance(document, dict) or _CVE.match(str(document.get("value", ""))):
        return []
    vulnerability = document.get("vulnerability") or {}
    named = [*(document.get("cves") or []), *(vulnerability.get("cves") or [])]
    return sorted({str(cve).upper() for cve in named if isinstance(cve, str) and _CVE.match(cve)})


def downgrade() -> None:
    op.drop_index("ix_indicator_cves_cve", table_name="indicator_cves")
    op.drop_table("indicator_cves")

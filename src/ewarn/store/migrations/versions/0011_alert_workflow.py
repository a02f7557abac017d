"""alert workflow (issue 14): state history, deadlines and reminders, suppression rules, escalation contacts

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 12:30:00.000000

- ``alert_transitions``: every workflow state change of an alert (who, when, from, to, comment);
- ``alert_workflow``: each alert's deadlines and the notices (reminder, escalations) sent about them;
- ``suppression_rules``: a provider's rules turning future matches into counted suppressions;
- ``providers.escalation_contact`` and ``csirts.escalation_contact``: where overdue alerts escalate to;
- ``subscriptions.purpose``: ``alerts`` (every existing row), ``escalation`` (the workflow's own rows that
  carry overdue notices to an escalation contact through the outbox, never routed alerts) or ``csirt``;
- ``subscriptions.csirt_id``: a CSIRT's subscription to its constituency (``provider_id`` then empty).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    for table in ("providers", "csirts"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("escalation_contact", sa.String(length=320), nullable=True))
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=16), nullable=False, server_default="alerts")
        )
        batch_op.add_column(sa.Column("csirt_id", sa.String(length=64), nullable=True))
        batch_op.alter_column("provider_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.create_foreign_key("fk_subscriptions_csirt_id_csirts", "csirts", ["csirt_id"], ["id"])
        batch_op.create_index("ix_subscriptions_csirt_id", ["csirt_id"], unique=False)
    op.create_table(
        "alert_transitions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=False),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("actor_name", sa.String(length=255), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_transitions"),
    )
    op.create_index("ix_alert_transitions_alert_id", "alert_transitions", ["alert_id"])
    op.create_index("ix_alert_transitions_provider_id", "alert_transitions", ["provider_id"])
    op.create_table(
        "alert_workflow",
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("raised_at", _TS, nullable=False),
        sa.Column("acknowledged_at", _TS, nullable=True),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.Column("acknowledge_due_at", _TS, nullable=True),
        sa.Column("resolve_due_at", _TS, nullable=True),
        sa.Column("next_notice", sa.String(length=32), nullable=True),
        sa.Column("next_notice_at", _TS, nullable=True),
        sa.Column("notices", _JSON, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name="pk_alert_workflow"),
    )
    op.create_index("ix_alert_workflow_provider_id", "alert_workflow", ["provider_id"])
    op.create_index("ix_alert_workflow_next_notice_at", "alert_workflow", ["next_notice_at"])
    op.create_table(
        "suppression_rules",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.String(length=255), nullable=True),
        sa.Column("indicator_key", sa.String(length=1024), nullable=True),
        sa.Column("vendor", sa.String(length=255), nullable=True),
        sa.Column("product", sa.String(length=255), nullable=True),
        sa.Column("version", sa.String(length=255), nullable=True),
        sa.Column("cve", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("source_alert_id", sa.String(length=64), nullable=True),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.Column("last_hit_at", _TS, nullable=True),
        sa.Column("deleted_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name="fk_suppression_rules_provider_id_providers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_suppression_rules"),
    )
    op.create_index("ix_suppression_rules_provider_id", "suppression_rules", ["provider_id"])


def downgrade() -> None:
    op.drop_index("ix_suppression_rules_provider_id", table_name="suppression_rules")
    op.drop_table("suppression_rules")
    for name in ("next_notice_at", "provider_id"):
        op.drop_index(f"ix_alert_workflow_{name}", table_name="alert_workflow")
    op.drop_table("alert_workflow")
    for name in ("provider_id", "alert_id"):
        op.drop_index(f"ix_alert_transitions_{name}", table_name="alert_transitions")
    op.drop_table("alert_transitions")
    op.execute(sa.text("DELETE FROM subscriptions WHERE provider_id IS NULL"))  # CSIRT-owned: no home before
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_csirt_id")
        batch_op.drop_constraint("fk_subscriptions_csirt_id_csirts", type_="foreignkey")
        batch_op.drop_column("csirt_id")
        batch_op.alter_column("provider_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("purpose")
    for table in ("csirts", "providers"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("escalation_contact")

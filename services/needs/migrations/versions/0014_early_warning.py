"""early warning and legal clocks: visit observations, warning rules, their hits and
verification tasks; procedures and their steps; benefits on the aid chain;
partners' flags for the watch list

Revision ID: 0014
Revises: 0012
Create Date: 2026-11-30 05:00:00

Visits recorded before this have observed nothing on the checklist: an empty list.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("visit") as batch:
        batch.add_column(
            sa.Column("observations", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    op.create_table(
        "warning_rule",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("label_zh", sa.String(length=200), nullable=False),
        sa.Column("label_en", sa.String(length=200), nullable=False),
        sa.Column("expression", sa.JSON(), nullable=False),
        sa.Column("task_due_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "warning_rule_hit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("open_key", sa.String(length=80), nullable=True),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["rule_id"], ["warning_rule.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_key"),
    )
    op.create_index("ix_warning_rule_hit_rule_id", "warning_rule_hit", ["rule_id"])
    op.create_index("ix_warning_rule_hit_person_id", "warning_rule_hit", ["person_id"])
    op.create_table(
        "verification_task",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("household_id", sa.String(length=36), nullable=False),
        sa.Column("adcode", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("need_id", sa.String(length=36), nullable=True),
        sa.Column("tier_after", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["rule_id"], ["warning_rule.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("rule_id", "person_id", "household_id", "adcode", "status", "due_on"):
        op.create_index(f"ix_verification_task_{column}", "verification_task", [column])

    op.create_table(
        "procedure",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("household_id", sa.String(length=36), nullable=False),
        sa.Column("adcode", sa.String(length=12), nullable=False),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("kind", "person_id", "household_id", "adcode"):
        op.create_index(f"ix_procedure_{column}", "procedure", [column])
    op.create_table(
        "procedure_step",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("procedure_id", sa.String(length=36), nullable=False),
        sa.Column("step", sa.String(length=40), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("due_estimated", sa.Boolean(), nullable=False),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["procedure_id"], ["procedure.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("procedure_id", "step"),
    )
    op.create_index("ix_procedure_step_procedure_id", "procedure_step", ["procedure_id"])
    op.create_index("ix_procedure_step_due_on", "procedure_step", ["due_on"])

    op.create_table(
        "benefit",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("household_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=False),
        sa.Column("provider_kind", sa.String(length=20), nullable=False),
        sa.Column("start_on", sa.Date(), nullable=False),
        sa.Column("end_on", sa.Date(), nullable=True),
        sa.Column("amount_yuan", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_benefit_household_id", "benefit", ["household_id"])
    op.create_index("ix_benefit_category", "benefit", ["category"])

    op.create_table(
        "partner_flag",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("partner", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_partner_flag_person_id", "partner_flag", ["person_id"])
    op.create_index("ix_partner_flag_until", "partner_flag", ["until"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("partner_flag")
    op.drop_table("benefit")
    op.drop_table("procedure_step")
    op.drop_table("procedure")
    op.drop_table("verification_task")
    op.drop_table("warning_rule_hit")
    op.drop_table("warning_rule")
    with op.batch_alter_table("visit") as batch:
        batch.drop_column("observations")

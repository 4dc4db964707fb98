"""consent withdrawal: person.consent_withdrawn and the consent_withdrawal record

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 13:30:00

Existing persons have withdrawn nothing: the new column starts as an empty list.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "consent_withdrawal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("withdrawn_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("erased", sa.JSON(), nullable=False),
        sa.Column("case_status_before", sa.String(length=20), nullable=False),
        sa.Column("case_status_after", sa.String(length=20), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_withdrawal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_withdrawal_person_id"), ["person_id"])

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("consent_withdrawn", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    """Downgrade schema (the record of withdrawals is lost: export it first)."""
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("consent_withdrawn")
    with op.batch_alter_table("consent_withdrawal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_withdrawal_person_id"))
    op.drop_table("consent_withdrawal")

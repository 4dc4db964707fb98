"""need audit head: need.audit_head_hash and need.audit_length

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 08:00:00

The head of each need's audit chain (every referral step taken for the need), kept on the need
row as 0011 keeps the referral's on the referral row, so a need chain whose last entries were
deleted no longer verifies. Existing needs get the head their chain has now.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("need", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audit_head_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("audit_length", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE need SET "
        "audit_length = (SELECT max(e.seq) FROM audit_entry e WHERE e.chain = 'need:' || need.id), "
        "audit_head_hash = (SELECT e.hash FROM audit_entry e "
        "WHERE e.chain = 'need:' || need.id ORDER BY e.seq DESC LIMIT 1)"
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("need", schema=None) as batch_op:
        batch_op.drop_column("audit_length")
        batch_op.drop_column("audit_head_hash")

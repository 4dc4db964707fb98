"""referral audit head: referral.audit_head_hash and referral.audit_length

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 05:00:00

The head of each referral's audit chain, kept on the referral row, so a chain whose last
entries were deleted no longer verifies. Existing referrals get the head their chain has now.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audit_head_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("audit_length", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE referral SET "
        "audit_length = (SELECT max(e.seq) FROM audit_entry e "
        "WHERE e.chain = 'referral:' || referral.id), "
        "audit_head_hash = (SELECT e.hash FROM audit_entry e "
        "WHERE e.chain = 'referral:' || referral.id ORDER BY e.seq DESC LIMIT 1)"
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_column("audit_length")
        batch_op.drop_column("audit_head_hash")

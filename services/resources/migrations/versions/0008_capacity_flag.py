"""capacity flag: resource.capacity_flagged_at

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 05:10:00

Set when a referral was declined for no capacity while the ledger showed units left: the
stated capacity is for the coordinator to correct. Existing resources start unflagged.
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
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("capacity_flagged_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_column("capacity_flagged_at")

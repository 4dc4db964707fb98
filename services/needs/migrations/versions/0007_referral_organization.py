"""referral.resource_organization: the organization of the referred resource, as the resources
service knew it when the referral was made (a coordinator acts on their organization's only)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 13:05:00

Referrals made before this revision keep NULL: only an admin or the case side acts on those.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("resource_organization", sa.String(length=200), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_referral_resource_organization"), ["resource_organization"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_resource_organization"))
        batch_op.drop_column("resource_organization")

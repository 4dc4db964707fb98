"""resource details (hours, availability, contact name), capacity periods, duplicates

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:35:49.061750

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("period_started_at", sa.DateTime(timezone=True), nullable=True)
        )
        # Rows of 0001 get no opening hours; the server default only fills them in.
        batch_op.add_column(
            sa.Column("hours", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("available_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("available_until", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("contact_name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("duplicate_of", sa.String(length=36), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_resource_contact_phone"), ["contact_phone"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_resource_duplicate_of"), ["duplicate_of"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_duplicate_of"))
        batch_op.drop_index(batch_op.f("ix_resource_contact_phone"))
        batch_op.drop_column("duplicate_of")
        batch_op.drop_column("contact_name")
        batch_op.drop_column("available_until")
        batch_op.drop_column("available_from")
        batch_op.drop_column("hours")
        batch_op.drop_column("period_started_at")

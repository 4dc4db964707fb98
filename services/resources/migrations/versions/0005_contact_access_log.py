"""contact access log: every unmasked read of a resource's contact data

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 13:20:00

"""

from collections.abc import Sequence

from alembic import op

from shared.access_log import create_access_log_table

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    create_access_log_table(op, table="contact_access", subject="resource_id")


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("contact_access")

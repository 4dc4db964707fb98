"""idempotency keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:07:42.696698

"""

from collections.abc import Sequence

from alembic import op

from shared.idempotency_store import create_idempotency_table, drop_idempotency_table

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    create_idempotency_table(op)


def downgrade() -> None:
    """Downgrade schema."""
    drop_idempotency_table(op)

"""idempotency keys (and the merge of the persons and referrals branches)

Revision ID: 0004
Revises: 0002, 0003
Create Date: 2026-11-23 09:07:42.648119

"""

from collections.abc import Sequence

from alembic import op

from shared.idempotency_store import create_idempotency_table, drop_idempotency_table

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = ("0002", "0003")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    create_idempotency_table(op)


def downgrade() -> None:
    """Downgrade schema."""
    drop_idempotency_table(op)

"""outbox parking: attempts, parked_at and last_error, so one poison event never blocks the rest

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 05:00:00

Existing rows have made no failed attempt and are not parked.
"""

from collections.abc import Sequence

from alembic import op

from shared.outbox import add_parking_columns, drop_parking_columns

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    add_parking_columns(op)


def downgrade() -> None:
    """Downgrade schema."""
    drop_parking_columns(op)

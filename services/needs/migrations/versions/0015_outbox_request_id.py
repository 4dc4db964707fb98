"""outbox request id: the X-Request-ID of the request that caused each event

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 05:00:00

Events queued before this revision carry none.
"""

from collections.abc import Sequence

from alembic import op

from shared.outbox import add_request_id_column, drop_request_id_column

# revision identifiers, used by Alembic.
revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    add_request_id_column(op)


def downgrade() -> None:
    """Downgrade schema."""
    drop_request_id_column(op)

"""idempotency results encrypted: forget the ones stored in clear

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 05:00:00

The body column keeps its type (text); it now holds ciphertexts. Records stored before are a
replay cache whose clear bodies may name people: they are deleted, not kept.
"""

from collections.abc import Sequence

from alembic import op

from shared.idempotency_store import forget_clear_records

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    forget_clear_records(op)


def downgrade() -> None:
    """Downgrade schema: nothing to undo (deleted cache entries stay deleted)."""

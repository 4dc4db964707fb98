"""ledger job heartbeat: ledger_import_job.heartbeat_at

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 08:10:00

A running import writes the time with its counts; a job whose process died stops writing, and
the needs service marks it interrupted once it is stale (services/needs/ledger_jobs.py). Jobs
left running by a process that died before this revision get their creation time, so they are
found stale at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("ledger_import_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE ledger_import_job SET heartbeat_at = created_at")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("ledger_import_job", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")

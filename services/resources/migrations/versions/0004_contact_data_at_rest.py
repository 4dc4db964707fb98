"""contact data at rest: encrypted contact name and phone, the phone's blind index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:40:00

No data migration re-encrypts existing rows: this young project has no production data yet.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_contact_phone"))
        batch_op.alter_column("contact_name", existing_type=sa.String(length=100), type_=sa.Text())
        batch_op.alter_column("contact_phone", existing_type=sa.String(length=32), type_=sa.Text())
        batch_op.add_column(sa.Column("contact_phone_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_resource_contact_phone_hash"), ["contact_phone_hash"])


def downgrade() -> None:
    """Downgrade schema (the columns then hold ciphertexts: decrypt before going back)."""
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_contact_phone_hash"))
        batch_op.drop_column("contact_phone_hash")
        batch_op.alter_column("contact_phone", existing_type=sa.Text(), type_=sa.String(32))
        batch_op.alter_column("contact_name", existing_type=sa.Text(), type_=sa.String(100))
        batch_op.create_index(batch_op.f("ix_resource_contact_phone"), ["contact_phone"])

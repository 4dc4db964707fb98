"""personal data at rest: encrypted name, ID number, phone and address; blind indexes;
guardian consent; the access log of unmasked reads

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:40:00

Columns change type in place and no data migration re-encrypts existing rows: this young
project has no production data yet. A database with plaintext rows would need one (read each
row raw, write it back through the cipher) before the services could read those rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.access_log import create_access_log_table

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite keeps 0002's unique constraint on person.resident_id unnamed; a naming convention
# lets batch mode find it. PostgreSQL named it itself.
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _resident_id_unique() -> tuple[str, dict[str, str] | None]:
    if op.get_bind().dialect.name == "sqlite":
        return "uq_person_resident_id", _SQLITE_NAMES
    return "person_resident_id_key", None


def upgrade() -> None:
    """Upgrade schema."""
    create_access_log_table(op, table="pii_access", subject="person_id")

    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.alter_column(
            "address", existing_type=sa.String(length=300), type_=sa.Text(), existing_nullable=False
        )

    unique_name, naming = _resident_id_unique()
    with op.batch_alter_table("person", schema=None, naming_convention=naming) as batch_op:
        batch_op.drop_constraint(unique_name, type_="unique")
        batch_op.alter_column(
            "name", existing_type=sa.String(length=50), type_=sa.Text(), existing_nullable=False
        )
        batch_op.alter_column(
            "resident_id", existing_type=sa.String(length=18), type_=sa.Text(), nullable=True
        )
        batch_op.alter_column(
            "phone", existing_type=sa.String(length=20), type_=sa.Text(), nullable=True
        )
        batch_op.add_column(sa.Column("resident_id_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("phone_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("consent_given_by", sa.String(length=20), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_person_resident_id_hash"), ["resident_id_hash"]
        )
        batch_op.create_index(batch_op.f("ix_person_phone_hash"), ["phone_hash"])


def downgrade() -> None:
    """Downgrade schema (the columns then hold ciphertexts: decrypt before going back)."""
    unique_name, naming = _resident_id_unique()
    with op.batch_alter_table("person", schema=None, naming_convention=naming) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_phone_hash"))
        batch_op.drop_constraint(batch_op.f("uq_person_resident_id_hash"), type_="unique")
        batch_op.drop_column("consent_given_by")
        batch_op.drop_column("phone_hash")
        batch_op.drop_column("resident_id_hash")
        batch_op.alter_column("phone", existing_type=sa.Text(), type_=sa.String(length=20))
        batch_op.alter_column("resident_id", existing_type=sa.Text(), type_=sa.String(length=18))
        batch_op.alter_column("name", existing_type=sa.Text(), type_=sa.String(length=50))
        batch_op.create_unique_constraint(unique_name, ["resident_id"])
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.alter_column("address", existing_type=sa.Text(), type_=sa.String(length=300))
    op.drop_table("pii_access")

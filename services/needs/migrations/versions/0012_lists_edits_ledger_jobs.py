"""lists, edits and ledger jobs: blind indexes of names and addresses, household versions,
the record_change history and ledger_import_job

Revision ID: 0012
Revises: 0008
Create Date: 2026-11-30 05:00:00

Existing persons and households get their name and address blind indexes computed here, with
the keys the service runs with (the same ones that decrypt them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.create_index(batch_op.f("ix_household_address_hash"), ["address_hash"])
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_person_name_hash"), ["name_hash"])
    op.create_table(
        "record_change",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_type", sa.String(length=20), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("record_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_change_record_id"), ["record_id"])
        batch_op.create_index(batch_op.f("ix_record_change_changed_at"), ["changed_at"])
    op.create_table(
        "ledger_import_job",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("ignored_columns", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(length=12), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _index_existing()


def _index_existing() -> None:
    """Blind indexes of the names and addresses already on file."""
    bind = op.get_bind()
    people = bind.execute(sa.text("SELECT id, name FROM person")).all()
    homes = bind.execute(sa.text("SELECT id, address FROM household")).all()
    if not people and not homes:
        return
    from shared.crypto import field_cipher, name_index

    cipher = field_cipher()
    for row_id, sealed in people:
        bind.execute(
            sa.text("UPDATE person SET name_hash = :h WHERE id = :id"),
            {"h": name_index(cipher.decrypt(sealed)), "id": row_id},
        )
    for row_id, sealed in homes:
        bind.execute(
            sa.text("UPDATE household SET address_hash = :h WHERE id = :id"),
            {"h": name_index(cipher.decrypt(sealed)), "id": row_id},
        )


def downgrade() -> None:
    """Downgrade schema (the edit history and import jobs are lost)."""
    op.drop_table("ledger_import_job")
    with op.batch_alter_table("record_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_change_changed_at"))
        batch_op.drop_index(batch_op.f("ix_record_change_record_id"))
    op.drop_table("record_change")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_name_hash"))
        batch_op.drop_column("name_hash")
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_address_hash"))
        batch_op.drop_column("version")
        batch_op.drop_column("address_hash")

"""duplicate detection index: normalised name, its length, a character signature and a grid cell

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 08:00:00

Registering next to thousands of resources read the whole neighbourhood and compared every
name in Python; now only the cells around a place and the names that can match are read
(services/resources/duplicates.py). Existing resources get their keys here.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from services.resources.duplicates import cell_of, normalise_name, signature

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS: dict[str, sa.types.TypeEngine[Any]] = {
    "name_key": sa.Text(),
    "name_length": sa.Integer(),
    "name_signature": sa.BigInteger(),
    "cell": sa.BigInteger(),
}


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("resource") as batch:
        for name, kind in COLUMNS.items():
            default = "" if name == "name_key" else "0"
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=default))
        batch.create_index(
            "ix_resource_cell_name_length",
            ["cell", "name_length"],
            postgresql_include=[
                "name_signature",
                "active",
                "created_at",
                "id",
                "lat",
                "lon",
                "name_key",
            ],
        )
    resource = sa.table(
        "resource",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("lat", sa.Float),
        sa.column("lon", sa.Float),
        *(sa.column(name, kind) for name, kind in COLUMNS.items()),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(resource.c.id, resource.c.name, resource.c.lat, resource.c.lon))
    for resource_id, name, lat, lon in rows.all():
        key = normalise_name(name)
        bind.execute(
            resource.update()
            .where(resource.c.id == resource_id)
            .values(
                name_key=key,
                name_length=len(key),
                name_signature=signature(key),
                cell=cell_of(lat, lon),
            )
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("resource") as batch:
        batch.drop_index("ix_resource_cell_name_length")
        for name in reversed(COLUMNS):
            batch.drop_column(name)

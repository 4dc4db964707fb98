"""sessions and sign-in limits: refresh tokens, failed sign-ins, token versions; encrypted
idempotency results and free-text fields

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 05:00:00

Idempotency records stored before their bodies were encrypted are deleted (a replay cache whose
clear bodies may name residents). Existing users start at token version 0. Free-text fields
that may name people (a need's description, a visit's findings, a referral's note, feedback and
override reason, a review comment) keep their type (text) and are encrypted in place with the
personal-data keys; the downgrade decrypts them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.crypto import PREFIX, field_cipher
from shared.idempotency_store import forget_clear_records

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


FREE_TEXT = [
    ("need", "description"),
    ("visit", "findings"),
    ("referral", "note"),
    ("referral", "feedback"),
    ("referral", "override_reason"),
    ("referral_approval", "comment"),
]


def _rewrite(table: str, column: str, *, encrypt: bool) -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")
    ).all()
    for key, value in rows:
        cipher = field_cipher()
        if encrypt == _sealed(value):
            continue
        new = cipher.encrypt(value) if encrypt else cipher.decrypt(value)
        bind.execute(
            sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :key"),
            {"value": new, "key": key},
        )


def _sealed(value: str) -> bool:
    """True for a ciphertext of the configured keys (a clear text may start like one)."""
    if not value.startswith(f"{PREFIX}:"):
        return False
    try:
        field_cipher().decrypt(value)
    except Exception:
        return False
    return True


def upgrade() -> None:
    """Upgrade schema."""
    forget_clear_records(op)
    for table, column in FREE_TEXT:
        _rewrite(table, column, encrypt=True)
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_version", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "sign_in_failure",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "refresh_token",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refresh_token_family_id"), ["family_id"])
        batch_op.create_index(batch_op.f("ix_refresh_token_user_id"), ["user_id"])


def downgrade() -> None:
    """Downgrade schema."""
    for table, column in FREE_TEXT:
        _rewrite(table, column, encrypt=False)
    op.drop_table("refresh_token")
    op.drop_table("sign_in_failure")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("token_version")

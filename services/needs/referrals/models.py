"""Tables of referrals: the referral, its review sign-offs, and the hash-chained audit trail."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.needs.models import Base
from shared.clock import utc_now
from shared.crypto import EncryptedText


class Referral(Base):
    """A referral (转介) of a need to one resource, with the match frozen as it was."""

    __tablename__ = "referral"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    need_id: Mapped[str] = mapped_column(ForeignKey("need.id"), index=True)
    resource_id: Mapped[str] = mapped_column(String(64), index=True)
    resource_name: Mapped[str] = mapped_column(String(200))
    resource_kind: Mapped[str] = mapped_column(String(20))
    # As the resources service knew it at referral time; None: not known (before 0007).
    resource_organization: Mapped[str | None] = mapped_column(String(200), index=True)
    adcode: Mapped[str] = mapped_column(String(12), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    origin: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(EncryptedText, default="")  # free text, encrypted
    units: Mapped[int] = mapped_column(Integer, default=1)
    # The match as the social worker saw it; None rank = a resource not in the list (override).
    match_rank: Mapped[int | None] = mapped_column(Integer)
    match_score: Mapped[float | None] = mapped_column(Float)
    match_distance_km: Mapped[float | None] = mapped_column(Float)
    match_explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    override_kind: Mapped[str | None] = mapped_column(String(20), index=True)
    override_reason: Mapped[str | None] = mapped_column(EncryptedText)
    for_minor: Mapped[bool] = mapped_column(Boolean, default=False)
    amount_yuan: Mapped[int | None] = mapped_column(Integer)
    review_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    review_departments: Mapped[list[str]] = mapped_column(JSON, default=list)
    review_round: Mapped[int] = mapped_column(Integer, default=0)
    reservation: Mapped[str | None] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(32))
    outcome_result: Mapped[str | None] = mapped_column(String(20))
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    feedback: Mapped[str | None] = mapped_column(EncryptedText)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The head of the referral's audit chain, written with each entry in the same transaction:
    # a chain cut short (its last entries deleted) no longer reaches it. None: before 0011.
    audit_head_hash: Mapped[str | None] = mapped_column(String(64))
    audit_length: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    state_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class ReferralApproval(Base):
    """One department's sign-off in one review round (联合审核: every named department)."""

    __tablename__ = "referral_approval"
    __table_args__ = (UniqueConstraint("referral_id", "review_round", "department"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referral.id"), index=True)
    review_round: Mapped[int] = mapped_column(Integer)
    department: Mapped[str] = mapped_column(String(64), index=True)
    decision: Mapped[str] = mapped_column(String(12))
    comment: Mapped[str | None] = mapped_column(EncryptedText)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One link of an append-only audit chain (`referral:<id>` or `need:<id>`).

    `body` is the canonical JSON that was hashed, kept verbatim so the hash can be recomputed
    whatever the database does to timestamps; `hash` = sha256(prev_hash + body).
    """

    __tablename__ = "audit_entry"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(80), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

"""Tables of the resources service."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.access_log import AccessLogRecord
from shared.clock import utc_now
from shared.crypto import EncryptedText
from shared.idempotency_store import IdempotencyRecord
from shared.outbox import OutboxRecord

DUPLICATE_INDEX_CARRIES = ("name_signature", "active", "created_at", "id", "lat", "lon", "name_key")
"""What the duplicate-detection index carries beside its keys (PostgreSQL)."""


class Base(DeclarativeBase):
    pass


class Resource(Base):
    """A resource (资源): an enterprise, charity, volunteer (team) or department that can serve."""

    __tablename__ = "resource"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    organization: Mapped[str | None] = mapped_column(String(200))
    categories: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text, default="")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_km: Mapped[float | None] = mapped_column(Float)
    adcodes: Mapped[list[str]] = mapped_column(JSON, default=list)
    eligible_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity_total: Mapped[int] = mapped_column(Integer)
    capacity_remaining: Mapped[int] = mapped_column(Integer)
    capacity_unit: Mapped[str] = mapped_column(String(20))
    capacity_period: Mapped[str] = mapped_column(String(20))
    capacity_mode: Mapped[str] = mapped_column(String(20), default="capacity")
    # Start (UTC) of the capacity period in progress; `reset_due_capacity` moves it on.
    period_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hours: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    available_from: Mapped[date | None] = mapped_column(Date)
    available_until: Mapped[date | None] = mapped_column(Date)
    # A contact may be a volunteer's own name and mobile: encrypted at rest; duplicates are
    # found through the phone's blind index.
    contact_name: Mapped[str | None] = mapped_column(EncryptedText)
    contact_phone: Mapped[str | None] = mapped_column(EncryptedText)
    contact_phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when registration looked like an organization already in the library: for review.
    duplicate_of: Mapped[str | None] = mapped_column(String(36), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    # Read from another directory without a category, service area or capacity: what is
    # missing and the categories suggested, until a coordinator completes it (inactive till then).
    draft: Mapped[dict[str, list[str]] | None] = mapped_column(JSON)
    # The HSDS service it was read from, as read, and Lianjie's values then (see hsds.mapping).
    hsds_source: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Set when a referral was declined for no capacity while the ledger showed units left: the
    # stated capacity is likely wrong, for the coordinator to correct (a new total clears it).
    capacity_flagged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What duplicate detection reads (duplicates.py): the normalised name, its length, one bit
    # per character, and the grid cell of the place; set whenever the name or place is.
    name_key: Mapped[str] = mapped_column(Text, default="")
    name_length: Mapped[int] = mapped_column(Integer, default=0)
    name_signature: Mapped[int] = mapped_column(BigInteger, default=0)
    cell: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    # PostgreSQL answers duplicate detection from the index alone (an index-only scan).
    __table_args__ = (
        Index(
            "ix_resource_cell_name_length",
            "cell",
            "name_length",
            postgresql_include=list(DUPLICATE_INDEX_CARRIES),
        ),
    )


class Reservation(Base):
    """One referral's hold on a resource's capacity (容量预留); one per referral id."""

    __tablename__ = "reservation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resource.id"), index=True)
    referral_id: Mapped[str] = mapped_column(String(64), unique=True)
    units: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class OutboxEvent(Base, OutboxRecord):
    __tablename__ = "outbox"


class IdempotencyKey(Base, IdempotencyRecord):
    __tablename__ = "idempotency_key"


class ContactAccess(Base, AccessLogRecord):
    """One unmasked read of a resource's contact name or phone (a volunteer's own mobile):
    who, in which role, why, which fields. The county hub reviews these (`GET /access-log`)."""

    __tablename__ = "contact_access"

    resource_id: Mapped[str] = mapped_column(String(36), index=True)

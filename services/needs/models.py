"""Tables of the needs service."""

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.needs.resident_id import masked
from shared.access_log import AccessLogRecord
from shared.clock import utc_now
from shared.crypto import EncryptedText
from shared.idempotency_store import IdempotencyRecord
from shared.outbox import OutboxRecord


class Base(DeclarativeBase):
    pass


class Household(Base):
    """A household file (一户一档): where it is, why it is in hardship, who looks after it."""

    __tablename__ = "household"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    address: Mapped[str] = mapped_column(EncryptedText)
    # Blind index of the address as written (spaces out): a re-imported ledger row without an
    # ID number finds its household by head's name and address (ledger_import.py).
    address_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    adcode: Mapped[str] = mapped_column(String(12), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    location_precision: Mapped[str] = mapped_column(String(20))
    hardship_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    station_adcode: Mapped[str | None] = mapped_column(String(12), index=True)
    social_worker: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Need(Base):
    """A need (需求) recorded for a household or one of its persons."""

    __tablename__ = "need"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    household_id: Mapped[str] = mapped_column(ForeignKey("household.id"), index=True)
    person_id: Mapped[str | None] = mapped_column(String(36), index=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(
        EncryptedText, default=""
    )  # free text: may name people
    urgency: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit: Mapped[str] = mapped_column(String(20), default="persons")
    needed_by: Mapped[date | None] = mapped_column(Date)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    adcode: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The head of the need's audit chain (its referrals' steps), written with each entry in the
    # same transaction: a chain cut short no longer reaches it. None: no entry since 0016.
    audit_head_hash: Mapped[str | None] = mapped_column(String(64))
    audit_length: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Person(Base):
    """A person's case (一人一案): who they are, their groups, consent, lifecycle and tier.

    Name, ID number and phone are personal data: encrypted at rest (AES-GCM), looked up by
    their blind index (`*_hash`), masked in answers unless a role and a purpose unmask them,
    and never in events, logs or error messages (docs/personal-data.md).
    """

    __tablename__ = "person"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    household_id: Mapped[str] = mapped_column(ForeignKey("household.id"), index=True)
    name: Mapped[str] = mapped_column(EncryptedText)
    name_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    gender: Mapped[str | None] = mapped_column(String(10))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    resident_id: Mapped[str | None] = mapped_column(EncryptedText)
    resident_id_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(EncryptedText)
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    is_head: Mapped[bool] = mapped_column(Boolean, default=False)
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    disability_grade: Mapped[int | None] = mapped_column(Integer)
    consent_on: Mapped[date | None] = mapped_column(Date)
    consent_scope: Mapped[list[str]] = mapped_column(JSON, default=list)
    consent_recorded_by: Mapped[str | None] = mapped_column(String(64))
    # "self" or "guardian": under 14, sensitive data needs a guardian's consent (PIPL art. 31).
    consent_given_by: Mapped[str | None] = mapped_column(String(20))
    # Scopes withdrawn and not given again (PIPL art. 15): what they covered stays stopped.
    consent_withdrawn: Mapped[list[str]] = mapped_column(JSON, default=list)
    case_status: Mapped[str] = mapped_column(String(20), index=True)
    exit_reason: Mapped[str | None] = mapped_column(String(40))
    case_status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    case_status_changed_by: Mapped[str | None] = mapped_column(String(64))
    active_since: Mapped[date | None] = mapped_column(Date)
    tier: Mapped[int | None] = mapped_column(Integer, index=True)
    last_visit_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    @property
    def resident_id_masked(self) -> str | None:
        """The ID number as answers show it, its middle hidden."""
        return masked(self.resident_id)


class Visit(Base):
    """A home visit (入户探访) on a case: when, by whom, what was found, any tier change."""

    __tablename__ = "visit"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    household_id: Mapped[str] = mapped_column(ForeignKey("household.id"), index=True)
    visited_on: Mapped[date] = mapped_column(Date, index=True)
    social_worker: Mapped[str] = mapped_column(String(64))
    findings: Mapped[str] = mapped_column(EncryptedText, default="")  # free text: may name people
    # Codes of the county's visit checklist (early warning reads them; no free text).
    observations: Mapped[list[str]] = mapped_column(JSON, default=list)
    tier_before: Mapped[int | None] = mapped_column(Integer)
    tier_after: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class NeedStatusChange(Base):
    """One step of a need's history: from which status to which, who moved it and when."""

    __tablename__ = "need_status_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    need_id: Mapped[str] = mapped_column(ForeignKey("need.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20), index=True)
    actor: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class RecordChange(Base):
    """One edit of a household file or a case: who, in which role, when, which fields.

    Field names only, never their old or new values: the history is read by the station and
    the county hub, and personal values stay where they are encrypted (issue 16)."""

    __tablename__ = "record_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_type: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[str] = mapped_column(String(36), index=True)
    version: Mapped[int] = mapped_column(Integer)
    fields: Mapped[list[str]] = mapped_column(JSON)
    actor: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LedgerImportJob(Base):
    """A ledger upload being imported: counts for a page to poll, and each row's outcome
    (row numbers, headers and rules only: a ledger's cells are personal data)."""

    __tablename__ = "ledger_import_job"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    ignored_columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(String(300))
    actor: Mapped[str] = mapped_column(String(64))
    area: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    # Written with the counts while the job runs: a job whose process died stops beating.
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PiiAccess(Base, AccessLogRecord):
    """One unmasked read of a person's personal data: who, in which role, why, which fields.

    The county hub reviews these (`GET /access-log`); the row holds ids and codes only.
    """

    __tablename__ = "pii_access"

    person_id: Mapped[str] = mapped_column(String(36), index=True)


class ConsentWithdrawal(Base):
    """A person's withdrawal of consent (撤回同意): when, which scopes, who recorded it, what
    was erased and what became of the case. Ids and codes only: it is the audit entry."""

    __tablename__ = "consent_withdrawal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    scope: Mapped[list[str]] = mapped_column(JSON)
    withdrawn_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    actor_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    erased: Mapped[list[str]] = mapped_column(JSON)
    case_status_before: Mapped[str] = mapped_column(String(20))
    case_status_after: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxEvent(Base, OutboxRecord):
    __tablename__ = "outbox"


class IdempotencyKey(Base, IdempotencyRecord):
    __tablename__ = "idempotency_key"

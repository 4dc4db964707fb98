"""Tables of early warning: the county's rules, which persons each rule holds for, and the
verification tasks (核实) it opened."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.needs.models import Base
from shared.clock import utc_now
from shared.crypto import EncryptedText


class WarningRule(Base):
    """An early-warning rule (预警规则) the county defined as data (`discovery.rules`)."""

    __tablename__ = "warning_rule"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    label_zh: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    expression: Mapped[dict[str, Any]] = mapped_column(JSON)
    task_due_days: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class RuleHit(Base):
    """That a rule holds for a person, since when; `cleared_at` once it stopped holding. A rule
    fires when it becomes true, so one open hit per rule and person at most."""

    __tablename__ = "warning_rule_hit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(ForeignKey("warning_rule.id"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    # The rule and person while the hit is open, None once cleared: unique, so a second
    # evaluation running at the same moment cannot fire the rule twice.
    open_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VerificationTask(Base):
    """A verification task (核实任务): the station checks on the ground what a rule flagged."""

    __tablename__ = "verification_task"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    rule_id: Mapped[str] = mapped_column(ForeignKey("warning_rule.id"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    household_id: Mapped[str] = mapped_column(ForeignKey("household.id"), index=True)
    adcode: Mapped[str] = mapped_column(String(12), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_on: Mapped[date] = mapped_column(Date, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(EncryptedText)
    need_id: Mapped[str | None] = mapped_column(String(36))
    tier_after: Mapped[int | None] = mapped_column(Integer)


class PartnerFlag(Base):
    """A partner's word that a person needs watching (合作方预警): a department, a charity or a
    village cadre told the station; followed until `until`."""

    __tablename__ = "partner_flag"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    partner: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(EncryptedText, default="")
    since: Mapped[date] = mapped_column(Date)
    until: Mapped[date] = mapped_column(Date, index=True)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

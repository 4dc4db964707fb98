"""Tables of procedures: one per application, and its steps with their legal due days."""

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.needs.models import Base
from shared.clock import utc_now


class Procedure(Base):
    """An assistance procedure (办理程序) for a person, e.g. a dibao application."""

    __tablename__ = "procedure"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    household_id: Mapped[str] = mapped_column(ForeignKey("household.id"), index=True)
    adcode: Mapped[str] = mapped_column(String(12), index=True)
    applied_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class ProcedureStep(Base):
    """One step on its clock: started, due (estimated past the calendar's vintage), done."""

    __tablename__ = "procedure_step"
    __table_args__ = (UniqueConstraint("procedure_id", "step"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    procedure_id: Mapped[str] = mapped_column(ForeignKey("procedure.id"), index=True)
    step: Mapped[str] = mapped_column(String(40))
    started_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    due_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    done_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(String(20))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

"""Requests and answers of the procedure routes."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PastDate

Outcome = Literal["approved", "refused", "done"]


class ProcedureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=40, description="e.g. dibao (GET /procedure-kinds)")
    person_id: str = Field(min_length=1, max_length=36)
    applied_on: PastDate | date


class StepStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    started_on: date


class StepDone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    done_on: date
    outcome: Outcome = "done"


class StepOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    step: str
    label_zh: str = ""
    label_en: str = ""
    started_on: date
    due_on: date
    due_estimated: bool = Field(description="Past the holiday calendar's vintage: weekdays only")
    extended: bool
    done_on: date | None
    outcome: str | None
    overdue: bool = False
    escalated_at: datetime | None


class ProcedureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    person_id: str
    household_id: str
    adcode: str
    applied_on: date
    steps: list[StepOut] = []


class OverdueStep(BaseModel):
    procedure_id: str
    kind: str
    person_id: str
    adcode: str
    step: StepOut


class OverdueSteps(BaseModel):
    items: list[OverdueStep]
    total: int


class ProcedureKind(BaseModel):
    kind: str
    steps: dict[str, dict[str, object]]
    calendar_vintage: int = Field(description="The last year the holiday calendar knows")

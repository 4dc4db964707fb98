"""Requests and answers of early warning's routes."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.needs.schemas import Tier


class TaskStatus(StrEnum):
    """A verification task is open until the station confirms the risk or does not."""

    OPEN = "open"
    CONFIRMED = "confirmed"  # 核实属实: a need is recorded or the tier changes
    NOT_CONFIRMED = "not_confirmed"  # 核实不属实, with the reason


class Observation(BaseModel):
    """One item of the county's visit checklist (走访观察项)."""

    code: str
    label_zh: str
    label_en: str


class RuleCreate(BaseModel):
    """An early-warning rule as the county writes it (the language: `discovery.rules`)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    label_zh: str = Field(min_length=1, max_length=200)
    label_en: str = Field(min_length=1, max_length=200)
    expression: dict[str, Any]
    task_due_days: int = Field(7, ge=1, le=90, description="Days the station has to verify")


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    code: str
    label_zh: str
    label_en: str
    expression: dict[str, Any]
    task_due_days: int
    active: bool
    created_at: datetime


class RulePreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expression: dict[str, Any]


class RulePreviewOut(BaseModel):
    """How many persons (in the caller's area) the rule would flag today: a count, no list."""

    flagged: int
    as_of: date


class EvaluationOut(BaseModel):
    opened: int
    as_of: date


class TaskClose(BaseModel):
    """How a verification ended: confirmed (a need recorded, or a tier change) or not (why)."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["confirmed", "not_confirmed"]
    reason: str | None = Field(None, min_length=1, max_length=2000)
    need_id: str | None = Field(None, min_length=1, max_length=36)
    tier: Tier | None = None

    @model_validator(mode="after")
    def _says_what_followed(self) -> "TaskClose":
        if self.outcome == "confirmed" and self.need_id is None and self.tier is None:
            raise ValueError("a confirmed risk names the need recorded or the new tier")
        if self.outcome == "not_confirmed" and not self.reason:
            raise ValueError("a risk not confirmed says why (reason)")
        return self


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    rule_id: str
    person_id: str
    household_id: str
    adcode: str
    status: TaskStatus
    opened_at: datetime
    due_on: date
    overdue: bool = False
    closed_at: datetime | None
    reason: str | None
    need_id: str | None
    tier_after: int | None


class TaskList(BaseModel):
    items: list[TaskOut]
    total: int


class RuleReport(BaseModel):
    """What one rule flagged and how the verifications ended."""

    rule_id: str
    code: str
    label_zh: str
    label_en: str
    flagged: int
    open: int
    confirmed: int
    not_confirmed: int
    confirmed_share: float | None = Field(description="confirmed / decided; None before any")


class PartnerFlagCreate(BaseModel):
    """A partner asks the station to watch a person."""

    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(min_length=1, max_length=36)
    partner: str = Field(min_length=1, max_length=200, description="Who flagged (a department…)")
    note: str = Field("", max_length=2000)
    days: int = Field(180, ge=1, le=730, description="How long to follow")


class Watched(BaseModel):
    """A person on the watch list: why, since when, until when."""

    person_id: str
    household_id: str
    adcode: str
    reason: Literal["exited", "refused", "partner_flag"]
    detail: str | None = Field(description="The exit reason, the procedure, or the partner")
    since: date
    until: date


class WatchList(BaseModel):
    items: list[Watched]
    total: int


class ReverseMatchOut(BaseModel):
    """An open need a resource qualifies for, and why (the hard filters it passed)."""

    need_id: str
    household_id: str
    person_id: str | None
    category: str
    urgency: int
    tier: int | None
    distance_km: float
    waiting_days: int
    category_fit: float
    reasons: list[str]


class ReverseCount(BaseModel):
    """How many open needs (in the caller's area) the resource may serve: counts before names."""

    resource_id: str
    qualifying: int
    considered: int


class ReverseList(ReverseCount):
    items: list[ReverseMatchOut]

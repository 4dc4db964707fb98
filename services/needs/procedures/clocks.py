"""The limits of each procedure's steps, as settings: which day a step is due."""

from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from shared import workdays


class DayKind(StrEnum):
    WORKING = "working"  # 工作日: holidays and adjusted working weekends from the calendar
    CALENDAR = "calendar"  # 自然日


class StepLimit(BaseModel):
    """How long one step may take: `days` of `kind` from its start, `max_days` when extended."""

    label_zh: str
    label_en: str
    days: int = Field(ge=0, le=365)
    max_days: int | None = Field(None, ge=0, le=365, description="The limit once extended")
    kind: DayKind = DayKind.WORKING
    starts_with_application: bool = Field(
        False, description="The clock starts on the application day (else when started)"
    )
    next_on: dict[str, str] = Field(
        default_factory=dict, description="outcome → the step whose clock starts when done"
    )


# 低保: decision within 25 working days of the application, 40 at most (extended); public notice
# of 7 days; a refusal notified with its reasons within 3 working days of the decision.
DEFAULT_PROCEDURES: dict[str, dict[str, StepLimit]] = {
    "dibao": {
        "decision": StepLimit(
            label_zh="审批决定",
            label_en="decision",
            days=25,
            max_days=40,
            starts_with_application=True,
            next_on={"refused": "refusal_notice"},
        ),
        "public_notice": StepLimit(
            label_zh="公示", label_en="public notice", days=7, kind=DayKind.CALENDAR
        ),
        "refusal_notice": StepLimit(label_zh="不予批准告知", label_en="refusal notified", days=3),
    }
}


def due(start: date, days: int, kind: DayKind) -> workdays.WorkdayCount:
    """The last day of a limit of `days` from `start` (the start day itself not counted)."""
    if kind is DayKind.CALENDAR:
        end = start + timedelta(days=days)
        return workdays.WorkdayCount(end, False)
    return workdays.add_working_days(start, days)

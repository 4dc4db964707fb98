"""Events the needs service publishes: ids, codes, coarse location and urgency, never PII."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.contracts.common import FiniteFloat

NEED_OPENED = "lianjie.needs.need.opened.v1"
NEED_UPDATED = "lianjie.needs.need.updated.v1"
NEED_CLOSED = "lianjie.needs.need.closed.v1"


class NeedEvent(BaseModel):
    """A need changed. `adcode` is the township or county, never the street address."""

    need_id: str
    household_id: str
    category: str
    status: str
    urgency: int
    adcode: str | None
    version: int
    occurred_at: datetime


REFERRAL_EVENTS = "lianjie.needs.referral"
"""Prefix of referral transitions: `lianjie.needs.referral.<state>.v1`."""


def referral_subject(state: str) -> str:
    """The subject a referral's transition into `state` is published on."""
    return f"{REFERRAL_EVENTS}.{state}.v1"


REFERRAL_ALL_STATES = f"{REFERRAL_EVENTS}.*.v1"

REFERRAL_UNSERVED_STATES = frozenset({"declined", "failed"})
"""Closed referral states in which the resource did not serve the need: a bad outcome to the
matcher. Each is a state of the needs service's `referrals/states.py` (a test holds them
together)."""


class MatchSnapshot(BaseModel):
    """The matcher's view when the referral was made, frozen: what outcome learning learns from."""

    rank_position: int | None = Field(
        None, ge=1, description="1 = top of the list; None = override"
    )
    score: FiniteFloat | None = None
    distance_km: FiniteFloat | None = None
    components: dict[str, FiniteFloat] = Field(default_factory=dict)


class ReferralOutcome(BaseModel):
    """How a referral ended: 居民满意度 satisfaction 1–5 and whether the need was met."""

    result: Literal["met", "partly_met", "not_met"]
    satisfaction: int | None = Field(None, ge=1, le=5)


class ReferralEvent(BaseModel):
    """A referral changed state. Ids and codes only: no names, ID numbers, phones or addresses."""

    referral_id: str
    need_id: str
    resource_id: str
    state: str
    category: str
    urgency: int
    adcode: str | None
    version: int
    reason: str | None = Field(None, description="A code such as no_capacity, never free text")
    match: MatchSnapshot | None = None
    outcome: ReferralOutcome | None = None
    occurred_at: datetime


CASE_TIER_CHANGED = "lianjie.needs.case.tier_changed.v1"


class CaseTierChanged(BaseModel):
    """A case's service tier (分级, 1 = most intensive) changed. Ids and codes only."""

    person_id: str
    household_id: str
    from_tier: int | None = Field(None, description="None when the case is first assessed")
    to_tier: int = Field(ge=1, le=5)
    adcode: str | None = Field(None, description="Township or county, never the street address")
    version: int
    occurred_at: datetime


VERIFICATION_TASK_OPENED = "lianjie.needs.verification.opened.v1"
VERIFICATION_TASK_CLOSED = "lianjie.needs.verification.closed.v1"


class VerificationTaskEvent(BaseModel):
    """An early-warning rule opened a verification task (核实), or the station closed it.
    Ids and codes only."""

    task_id: str
    rule_code: str
    person_id: str
    household_id: str
    adcode: str
    status: Literal["open", "confirmed", "not_confirmed"]
    due_on: date
    occurred_at: datetime


PROCEDURE_STEP_OVERDUE = "lianjie.needs.procedure.overdue.v1"


class ProcedureStepEvent(BaseModel):
    """A procedure's step passed its legal limit undone (escalated). Ids and codes only."""

    procedure_id: str
    kind: str
    step: str
    person_id: str
    adcode: str
    due_on: date
    occurred_at: datetime


BENEFIT_RECORDED = "lianjie.needs.benefit.recorded.v1"


class BenefitEvent(BaseModel):
    """A benefit was put on a household's aid chain. Ids and codes only."""

    benefit_id: str
    household_id: str
    category: str
    provider_kind: str
    source: str
    start_on: date
    adcode: str
    occurred_at: datetime

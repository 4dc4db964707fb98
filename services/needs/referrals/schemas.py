"""HTTP request and response models of referrals."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.contracts.matcher import RankedResource
from shared.contracts.resources import ResourceKind


def _utc(moment: datetime) -> datetime:
    # SQLite hands stored datetimes back without their zone; every one Lianjie stores is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


Utc = Annotated[datetime, AfterValidator(_utc)]
Department = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$", examples=["civil_affairs"]),
]
DeclineReason = Literal["no_capacity", "not_eligible", "out_of_area", "unreachable", "other"]
EndReason = Literal[
    "withdrawn_by_resident", "duplicate", "resource_unavailable", "no_longer_needed", "other"
]


class ReferralCreate(BaseModel):
    """Refer a need to a resource, normally one of its matches."""

    model_config = ConfigDict(extra="forbid")

    need_id: str = Field(min_length=1, max_length=36)
    resource_id: str = Field(min_length=1, max_length=64)
    note: str = Field("", max_length=2000, description="The social worker's note to the resource")
    override_reason: str | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="Required when the resource is not the top match or not in the list at all",
    )
    resource_kind: ResourceKind | None = Field(
        None, description="Required only for a resource that is not among the matches"
    )
    resource_name: str | None = Field(None, min_length=1, max_length=200)
    for_minor: bool = Field(False, description="The person served is under 18")
    amount_yuan: int | None = Field(None, ge=0, le=100_000_000, description="Money involved")
    review_departments: list[Department] = Field(
        default_factory=list,
        max_length=10,
        description="Departments that must each sign off (joint review); implies review",
    )
    submit: bool = Field(True, description="Submit at once (to review or to the resource)")


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: Department
    decision: Literal["approve", "return"]
    comment: str | None = Field(None, max_length=2000, description="Required to return")


class DeclineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: DeclineReason


class EndBody(BaseModel):
    """Why a referral is cancelled or failed: a code, and optionally a comment."""

    model_config = ConfigDict(extra="forbid")

    reason: EndReason
    comment: str | None = Field(None, max_length=2000)


class CompleteBody(BaseModel):
    """The outcome: met / partly met / not met, 居民满意度 1–5, feedback."""

    model_config = ConfigDict(extra="forbid")

    result: Literal["met", "partly_met", "not_met"]
    satisfaction: int | None = Field(None, ge=1, le=5)
    feedback: str | None = Field(None, max_length=4000)


class ClaimCreate(BaseModel):
    """A micro-wish (微心愿) claimed by an enterprise, charity or volunteer."""

    model_config = ConfigDict(extra="forbid")

    resource_id: str = Field(min_length=1, max_length=64)
    resource_name: str = Field(min_length=1, max_length=200)
    resource_kind: Literal["enterprise", "charity", "volunteer"]
    note: str = Field("", max_length=2000)


class ApprovalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    department: str
    review_round: int
    decision: str
    comment: str | None
    decided_by: str | None
    decided_at: Utc | None
    due_at: Utc


class ReferralOut(BaseModel):
    id: str
    need_id: str
    resource_id: str
    resource_name: str
    resource_kind: str
    resource_organization: str | None = Field(
        description="The resource's organization when referred; its coordinators act on it"
    )
    state: str
    version: int
    origin: str
    note: str
    units: int
    match_rank: int | None
    match_score: float | None
    match_distance_km: float | None
    match_explanation: dict[str, Any] | None
    override_kind: str | None
    override_reason: str | None
    for_minor: bool
    amount_yuan: int | None
    review_reasons: list[str]
    review_departments: list[str]
    approvals: list[ApprovalOut]
    reservation: str | None
    reason: str | None
    outcome_result: str | None
    satisfaction: int | None
    feedback: str | None
    due_at: Utc | None
    overdue: bool
    escalated: bool
    allowed: list[str] = Field(description="The states this referral may move to next")
    created_by: str | None
    created_at: Utc
    updated_at: Utc


class ReferralList(BaseModel):
    """One page of referrals, shaped as every list of the needs service (`Listing`)."""

    items: list[ReferralOut]
    total: int
    limit: int
    offset: int


class OverdueLine(BaseModel):
    referral_id: str
    need_id: str
    state: str
    waiting_for: Literal["review", "acceptance"]
    due_at: Utc
    overdue_hours: float
    escalated: bool
    departments: list[str]


class OverdueList(BaseModel):
    items: list[OverdueLine]
    total: int


class OverrideLine(BaseModel):
    """A social worker did not follow the matcher's top suggestion (PIPL art. 24)."""

    referral_id: str
    need_id: str
    resource_id: str
    override_kind: str
    match_rank: int | None
    reason: str | None
    created_by: str | None
    created_at: Utc


class OverrideReport(BaseModel):
    items: list[OverrideLine]
    total: int
    by_kind: dict[str, int]


class AuditEntryOut(BaseModel):
    seq: int
    body: dict[str, Any]
    prev_hash: str
    hash: str


class AuditOut(BaseModel):
    chain: str
    intact: bool
    broken_at: int | None
    entries: list[AuditEntryOut]


class NoCapacity(BaseModel):
    """Returned with the 409 when capacity is gone: the referral is declined, here is the next."""

    referral: ReferralOut
    next_match: RankedResource | None
    next_match_error: str | None = None

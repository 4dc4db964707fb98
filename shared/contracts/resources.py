"""What the resources service publishes and answers on NATS."""

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from shared.contracts.common import FiniteFloat, Latitude, Longitude

RESOURCE_UPSERTED = "lianjie.resources.resource.upserted.v1"
"""Per-resource subject prefix: the state of resource R goes to `<prefix>.R`, last value kept."""

CAPACITY_RESERVE = "lianjie.resources.capacity.reserve.v1"
CAPACITY_RELEASE = "lianjie.resources.capacity.release.v1"
CAPACITY_CONSUME = "lianjie.resources.capacity.consume.v1"
RESOURCE_CARD = "lianjie.resources.resource.card.v1"
"""Request-reply: who offers a resource (its organization), asked when a referral is made."""
RESOURCES_QUEUE = "resources"
RESERVATION_PROMOTED = "lianjie.resources.reservation.promoted.v1"
"""JetStream: a waitlisted reservation was promoted (units freed up); needs follows it."""


def resource_subject(resource_id: str) -> str:
    """The subject that carries the latest state of one resource."""
    return f"{RESOURCE_UPSERTED}.{resource_id}"


class ResourceKind(StrEnum):
    """The four kinds of the rescue alliance's members and partners."""

    ENTERPRISE = "enterprise"  # 爱心企业
    CHARITY = "charity"  # 慈善组织
    VOLUNTEER = "volunteer"  # 志愿者/志愿服务队
    DEPARTMENT = "department"  # 政府部门


class CapacityMode(StrEnum):
    """What happens when capacity runs out (FHIR SDOH: capacity / no-capacity / waitlist)."""

    HARD = "capacity"
    WAITLIST = "waitlist"


class ResourceUpserted(BaseModel):
    """The public state of a resource as the matcher needs it: no contact or personal data."""

    resource_id: str
    version: int = Field(ge=1, description="Grows by one with every change; stale ones are ignored")
    name: str
    kind: ResourceKind
    organization: str | None = None
    categories: list[str]
    description: str = ""
    lat: Latitude
    lon: Longitude
    radius_km: FiniteFloat | None = Field(None, gt=0)
    adcodes: list[str] = Field(default_factory=list)
    eligible_groups: list[str] = Field(default_factory=list, description="Empty: everyone")
    capacity_total: int = Field(ge=0)
    capacity_remaining: int = Field(ge=0)
    capacity_unit: str = "persons"
    capacity_mode: CapacityMode = CapacityMode.HARD
    open_referrals: int = Field(0, ge=0)
    active: bool = True
    updated_at: datetime
    capacity_period: str | None = Field(None, description="once, week, month or year")
    waitlisted: int = Field(0, ge=0, description="Referrals waiting for capacity (waitlist mode)")
    available_from: date | None = Field(None, description="First day offered (None: always)")
    available_until: date | None = Field(None, description="Last day offered (None: open-ended)")


class ResourceCardRequest(BaseModel):
    """Ask the resources service for one resource's card (a read: safe to retry)."""

    resource_id: str = Field(min_length=1, max_length=64)


class ResourceCard(BaseModel):
    """What a referral records of its resource, from the service that owns it."""

    resource_id: str
    name: str
    kind: ResourceKind
    organization: str | None = None
    active: bool = True


MAX_CAPACITY_UNITS = 10_000_000
"""The most units a resource offers per period, and so the most one referral can ask for."""


class CapacityRequest(BaseModel):
    """Reserve, release or consume units of a resource for one referral (idempotent by id)."""

    resource_id: str = Field(min_length=1, max_length=64)
    referral_id: str = Field(min_length=1, max_length=64)
    units: int = Field(1, ge=1, le=MAX_CAPACITY_UNITS)
    unit: str | None = Field(
        None, max_length=20, description="What `units` count (a capacity unit code); checked"
    )


class ReservationState(StrEnum):
    RESERVED = "reserved"
    WAITLISTED = "waitlisted"  # capacity ran out and the resource keeps a waitlist
    RELEASED = "released"
    CONSUMED = "consumed"


class CapacityReply(BaseModel):
    """The reservation's state after the request, and what remains of the resource."""

    resource_id: str
    referral_id: str
    units: int
    state: ReservationState
    capacity_remaining: int


class ReservationPromoted(BaseModel):
    """A referral's waitlisted reservation now holds its units. Ids only."""

    resource_id: str
    referral_id: str
    units: int = Field(ge=1)
    occurred_at: datetime

"""The resources service's HTTP request and response models."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from shared.access_log import AccessLogOut
from shared.contracts.common import Adcode, CategoryCode, FiniteFloat, GeoPoint
from shared.contracts.resources import MAX_CAPACITY_UNITS, CapacityMode, ResourceKind

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ClockTime = str  # "HH:MM", validated by the pattern below
CLOCK_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"


class CapacityPeriod(StrEnum):
    """How often capacity starts afresh (`once`: never)."""

    ONCE = "once"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class CapacityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int = Field(ge=0, le=MAX_CAPACITY_UNITS, description="Units per period")
    unit: str = Field("persons", min_length=1, max_length=20, description="persons, hours, yuan…")
    period: CapacityPeriod = CapacityPeriod.MONTH
    mode: CapacityMode = CapacityMode.HARD


class OpeningHours(BaseModel):
    """One weekly opening slot (营业/服务时间)."""

    model_config = ConfigDict(extra="forbid")

    day: Weekday
    opens: str = Field(pattern=CLOCK_PATTERN, description="HH:MM, China time")
    closes: str = Field(pattern=CLOCK_PATTERN, description="HH:MM, China time")

    @model_validator(mode="after")
    def _opens_before_closing(self) -> "OpeningHours":
        if self.opens >= self.closes:
            raise PydanticCustomError("hours_order", "a slot must open before it closes")
        return self


class ResourceCreate(BaseModel):
    """A resource as a coordinator registers it (and replaces it with PUT)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: ResourceKind
    organization: str | None = Field(None, max_length=200)
    categories: list[CategoryCode] = Field(min_length=1, max_length=20)
    description: str = Field("", max_length=4000)
    location: GeoPoint
    radius_km: FiniteFloat | None = Field(None, gt=0, le=5000, description="Service radius")
    adcodes: list[Adcode] = Field(default_factory=list, max_length=500)
    eligible_groups: list[str] = Field(default_factory=list, max_length=50)
    capacity: CapacityIn
    hours: list[OpeningHours] = Field(default_factory=list, max_length=50)
    available_from: date | None = None
    available_until: date | None = None
    contact_name: str | None = Field(None, max_length=100)
    contact_phone: str | None = Field(None, max_length=32, pattern=r"^\+?[0-9][0-9 -]{4,30}$")
    verified: bool = False

    @model_validator(mode="after")
    def _has_service_area(self) -> "ResourceCreate":
        if self.radius_km is None and not self.adcodes:
            raise PydanticCustomError(
                "service_area_required", "give a service radius_km, adcodes, or both"
            )
        return self

    @model_validator(mode="after")
    def _dates_in_order(self) -> "ResourceCreate":
        start, end = self.available_from, self.available_until
        if start and end and start > end:
            raise PydanticCustomError(
                "date_range", "available_from must not be after available_until"
            )
        return self


class ResourcePatch(BaseModel):
    """Some fields of a resource; the rest stay as they are (JSON merge semantics)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    kind: ResourceKind | None = None
    organization: str | None = Field(None, max_length=200)
    categories: list[Annotated[str, Field(max_length=64)]] | None = Field(None, max_length=20)
    description: str | None = Field(None, max_length=4000)
    location: dict[str, object] | None = None
    radius_km: FiniteFloat | None = None
    adcodes: list[str] | None = None
    eligible_groups: list[str] | None = None
    capacity: dict[str, object] | None = None
    hours: list[dict[str, object]] | None = None
    available_from: date | None = None
    available_until: date | None = None
    contact_name: str | None = Field(None, max_length=100)
    contact_phone: str | None = Field(None, max_length=32)
    verified: bool | None = None


class ResourceDraftState(BaseModel):
    """What a resource read from another directory still lacks before it can be matched."""

    missing: list[str] = Field(description="categories, service_area, capacity")
    suggested_categories: list[str] = Field(
        default_factory=list, description="From its HSDS taxonomy terms and text"
    )


class ResourceOut(BaseModel):
    id: str
    name: str
    kind: ResourceKind
    organization: str | None
    categories: list[str]
    description: str
    lat: FiniteFloat
    lon: FiniteFloat
    radius_km: FiniteFloat | None
    adcodes: list[str]
    eligible_groups: list[str]
    capacity_total: int
    capacity_remaining: int
    capacity_unit: str
    capacity_period: str
    capacity_mode: str
    period_started_at: datetime | None
    hours: list[OpeningHours]
    available_from: date | None
    available_until: date | None
    contact_name: str | None
    contact_phone: str | None
    masked: bool = Field(True, description="Contact masked; in full only with ?purpose= (logged)")
    verified: bool
    active: bool
    draft: "ResourceDraftState | None" = Field(
        None, description="Read from another directory and not complete yet (inactive till then)"
    )
    duplicate_of: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True)


class ResourcePage(BaseModel):
    items: list[ResourceOut]
    total: int
    limit: int
    offset: int


class ContactAccessOut(AccessLogOut):
    """One unmasked read of a resource's contact."""

    resource_id: str

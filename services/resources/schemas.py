"""The resources service's HTTP request and response models."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from shared.contracts.common import Adcode, CategoryCode, GeoPoint
from shared.contracts.resources import CapacityMode, ResourceKind


class CapacityPeriod(StrEnum):
    ONCE = "once"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class CapacityIn(BaseModel):
    total: int = Field(ge=0, le=10_000_000, description="Units per period")
    unit: str = Field("persons", min_length=1, max_length=20, description="persons, hours, yuan…")
    period: CapacityPeriod = CapacityPeriod.MONTH
    mode: CapacityMode = CapacityMode.HARD


class ResourceCreate(BaseModel):
    """A resource as a coordinator registers it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: ResourceKind
    organization: str | None = Field(None, max_length=200)
    categories: list[CategoryCode] = Field(min_length=1, max_length=20)
    description: str = Field("", max_length=4000)
    location: GeoPoint
    radius_km: float | None = Field(None, gt=0, le=5000, description="Service radius")
    adcodes: list[Adcode] = Field(default_factory=list, max_length=500)
    eligible_groups: list[str] = Field(default_factory=list, max_length=50)
    capacity: CapacityIn
    contact_phone: str | None = Field(None, max_length=32)
    verified: bool = False

    @model_validator(mode="after")
    def _has_service_area(self) -> "ResourceCreate":
        if self.radius_km is None and not self.adcodes:
            raise PydanticCustomError(
                "service_area_required", "give a service radius_km, adcodes, or both"
            )
        return self


class ResourceOut(BaseModel):
    id: str
    name: str
    kind: ResourceKind
    organization: str | None
    categories: list[str]
    description: str
    lat: float
    lon: float
    radius_km: float | None
    adcodes: list[str]
    eligible_groups: list[str]
    capacity_total: int
    capacity_remaining: int
    capacity_unit: str
    capacity_period: str
    capacity_mode: str
    verified: bool
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True)


class ResourcePage(BaseModel):
    items: list[ResourceOut]
    total: int
    limit: int
    offset: int

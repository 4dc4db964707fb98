"""The needs service's HTTP request and response models."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.common import Adcode, CategoryCode, GeoPoint, Urgency
from shared.contracts.matcher import RankedResource


class HouseholdCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1, max_length=300, description="As written, in Chinese")
    adcode: Adcode
    location: GeoPoint | None = Field(None, description="Omit to use the division's centroid")
    hardship_categories: list[str] = Field(default_factory=list, max_length=10)
    station_adcode: Adcode | None = None
    social_worker: str | None = Field(None, max_length=64)


class HouseholdOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    address: str
    adcode: str
    lat: float | None
    lon: float | None
    location_precision: str
    hardship_categories: list[str]
    station_adcode: str | None
    social_worker: str | None
    created_at: datetime


class NeedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    household_id: str = Field(min_length=1, max_length=36)
    person_id: str | None = Field(None, max_length=36)
    category: CategoryCode
    description: str = Field("", max_length=4000)
    urgency: Urgency = 3
    quantity: int = Field(1, ge=1, le=100_000)
    unit: str = Field("persons", min_length=1, max_length=20)
    needed_by: date | None = None
    location: GeoPoint | None = Field(None, description="Defaults to the household's")


class NeedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    household_id: str
    person_id: str | None
    category: str
    description: str
    urgency: int
    quantity: int
    unit: str
    needed_by: date | None
    lat: float
    lon: float
    adcode: str
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class MatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int | None = Field(None, ge=1, le=100)
    max_distance_km: float | None = Field(None, gt=0)
    exclude: list[str] = Field(default_factory=list, max_length=500)


class MatchesOut(BaseModel):
    need_id: str
    results: list[RankedResource]
    candidates_considered: int

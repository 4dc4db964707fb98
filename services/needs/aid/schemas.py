"""Requests and answers of the aid chain."""

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.common import CategoryCode

ProviderKind = Literal["department", "charity", "enterprise", "volunteer", "station", "other"]


class BenefitCreate(BaseModel):
    """A benefit given outside Lianjie's referrals, as the station learns of it."""

    model_config = ConfigDict(extra="forbid")

    category: CategoryCode
    provider: str = Field(min_length=1, max_length=200, description="Who gave it (a name or id)")
    provider_kind: ProviderKind
    start_on: date
    end_on: date | None = Field(None, description="Last day; none for a one-off on start_on")
    person_id: str | None = Field(None, min_length=1, max_length=36)
    amount_yuan: int | None = Field(None, ge=0, le=10_000_000)
    note: str = Field("", max_length=2000)
    source: Literal["recorded", "imported"] = "recorded"

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> "BenefitCreate":
        if self.end_on is not None and self.end_on < self.start_on:
            raise ValueError("end_on is before start_on")
        return self


class AidEntry(BaseModel):
    """One link of the chain: who gave what, when."""

    source: Literal["referral", "micro_wish", "recorded", "imported"]
    id: str
    category: str
    provider: str
    provider_kind: str
    start_on: date
    end_on: date | None = Field(description="None: still given, or a one-off on start_on")
    state: str | None = Field(None, description="The referral's state, for referrals")


class AidFlag(BaseModel):
    """Something on the chain to look at: the same aid twice, or a need left waiting."""

    kind: Literal["double_aid", "unserved"]
    household_id: str
    category: str | None = None
    entries: list[str] = Field(default_factory=list, description="Ids of the entries involved")
    detail: str


class AidChain(BaseModel):
    household_id: str
    entries: list[AidEntry]
    flags: list[AidFlag]


class AidFlagList(BaseModel):
    items: list[AidFlag]
    total: int

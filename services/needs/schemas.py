"""The needs service's HTTP request and response models."""

import re
from datetime import date, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from services.needs import resident_id
from services.needs.cases.states import CaseStatus
from services.needs.enums import ConsentGiver, ConsentScope, ExitReason, Gender, VisitFilter
from services.needs.states import NeedStatus
from shared.access_log import PURPOSE_MAX_LENGTH
from shared.clock import china_today
from shared.contracts.common import Adcode, GeoPoint, Urgency
from shared.contracts.matcher import RankedResource
from shared.contracts.vocabulary import (
    CategoryCode,
    GroupCode,
    HardshipCode,
    TierCode,
    UnitCode,
)

_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")

ID_MAX_LENGTH = 36  # every record of this service has a UUID
RESOURCE_ID_MAX_LENGTH = 64  # a resource's id, as referrals store it (imports keep their own)
MAX_DISTANCE_KM = 20_000  # half the Earth's circumference: no two points are farther apart


def _phone(value: str) -> str:
    number = value.strip().replace(" ", "")
    if not _PHONE.match(number):
        raise PydanticCustomError(
            "phone_format", "a mobile number has 11 digits from 13-19; a landline 0xxx-xxxxxxx"
        )
    return number


def _not_in_future(value: date) -> date:
    if value > china_today():
        raise PydanticCustomError("not_in_future", "the date lies in the future")
    return value


Phone = Annotated[str, Field(max_length=20), AfterValidator(_phone)]
PastDate = Annotated[date, AfterValidator(_not_in_future)]
ResidentId = Annotated[str, Field(max_length=30), AfterValidator(resident_id.validate)]
Tier = TierCode  # 1 = most intensive care, 5 = lightest; or its label (一级 … 五级)
# As a referral stores it (Referral.resource_id): imported resources and older referrals keep
# ids of any form, and the next match after a decline excludes them all, so no pattern here.
ResourceId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=RESOURCE_ID_MAX_LENGTH,
        description="A resource's id: a UUID, or the id an imported resource kept",
    ),
]


class HouseholdCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1, max_length=300, description="As written, in Chinese")
    adcode: Adcode | None = Field(None, description="Omit to resolve it from the address")
    location: GeoPoint | None = Field(None, description="Omit to use the division's centroid")
    hardship_categories: list[HardshipCode] = Field(default_factory=list, max_length=10)
    station_adcode: Adcode | None = None
    social_worker: str | None = Field(
        None,
        max_length=64,
        description="The account in charge: the caller unless a station lead names another",
    )


class HouseholdPatch(BaseModel):
    """What may change in a household file; omitted fields stay as they are. A new address
    without an adcode is placed again from the address (and the station)."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(None, min_length=1, max_length=300)
    adcode: Adcode | None = None
    location: GeoPoint | None = None
    hardship_categories: list[HardshipCode] | None = Field(None, max_length=10)
    station_adcode: Adcode | None = None
    social_worker: str | None = Field(None, min_length=1, max_length=64)


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
    version: int
    created_at: datetime
    updated_at: datetime


class CaseFilters(BaseModel):
    """What a list of households or cases is narrowed to (every filter optional, all apply)."""

    station: str | None = Field(
        None,
        pattern=r"^\d{2,12}$",
        description="Adcode prefix: a village's (12), township's (9) or the county's (6)",
    )
    hardship: HardshipCode | None = Field(None, description="困难类型, code or label")
    group: GroupCode | None = Field(None, description="人员类别, code or label")
    tier: Tier | None = None
    case_status: CaseStatus | None = None
    visit: VisitFilter | None = Field(None, description="due: due soon or overdue; overdue")
    open_needs: bool | None = Field(None, description="With (true) or without open needs")


class CaseSearch(CaseFilters):
    """A look-up by exact ID number or exact name (in a body, so they stay out of URLs and
    proxies' logs), with the list's filters. Compared through blind indexes, never decrypted."""

    model_config = ConfigDict(extra="forbid")

    resident_id: ResidentId | None = Field(None, description="Exact, 18 characters")
    name: str | None = Field(None, min_length=1, max_length=50, description="Exact full name")


class ConsentIn(BaseModel):
    """A consent record: when, to what, and who recorded it (defaults to the caller)."""

    model_config = ConfigDict(extra="forbid")

    given_on: PastDate
    scope: list[ConsentScope] = Field(min_length=1, max_length=len(ConsentScope))
    recorded_by: str | None = Field(None, min_length=1, max_length=64)
    given_by: ConsentGiver = Field(
        ConsentGiver.SELF, description="guardian: required for a child under 14's sensitive data"
    )


class PersonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=50)
    resident_id: ResidentId | None = Field(None, description="18 characters, GB 11643")
    gender: Gender | None = Field(None, description="Read from the ID number when omitted")
    date_of_birth: PastDate | None = Field(None, description="Read from the ID number if omitted")
    phone: Phone | None = None
    is_head: bool = False
    groups: list[GroupCode] = Field(default_factory=list, max_length=20)
    disability_grade: int | None = Field(None, ge=1, le=4, description="残疾等级 1–4")
    consent: ConsentIn | None = None
    tier: Tier | None = Field(None, description="Omit until the case is assessed")


class PersonPatch(BaseModel):
    """What may change in a case's person; omitted fields stay as they are. A member leaves
    one household for another by naming it (`household_id`)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=50)
    resident_id: ResidentId | None = None
    phone: Phone | None = None
    is_head: bool | None = None
    groups: list[GroupCode] | None = Field(None, max_length=20)
    disability_grade: int | None = Field(None, ge=1, le=4)
    household_id: str | None = Field(None, min_length=1, max_length=ID_MAX_LENGTH)


class RecordChangeOut(BaseModel):
    """One edit: the version it made, which fields, who, in which role, from where, when.
    Field names only: the values stay in the record (encrypted where personal)."""

    model_config = ConfigDict(from_attributes=True)

    version: int
    fields: list[str]
    actor: str | None
    role: str | None
    source: str = Field(description="api (an edit) or ledger (a re-imported ledger row)")
    changed_at: datetime


Item = TypeVar("Item")


class Listing(BaseModel, Generic[Item]):
    """One page of a list: its rows, how many match the filter in all, and the page asked."""

    items: list[Item]
    total: int
    limit: int
    offset: int


class PersonOut(BaseModel):
    """A case as answers show it: ID number and phone masked unless `masked` is false."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    household_id: str
    name: str
    resident_id: str | None = Field(description="Masked (110105********123X) unless unmasked")
    resident_id_masked: str | None
    gender: str | None
    date_of_birth: date | None
    phone: str | None = Field(description="Masked (138****5678) unless unmasked")
    masked: bool = True
    is_head: bool
    groups: list[str]
    disability_grade: int | None
    consent_on: date | None
    consent_scope: list[str]
    consent_recorded_by: str | None
    consent_given_by: str | None
    consent_withdrawn: list[str] = Field(
        description="Scopes withdrawn and not given again: what they covered has stopped"
    )
    case_status: str
    exit_reason: str | None
    case_status_changed_at: datetime
    active_since: date | None
    tier: int | None
    last_visit_on: date | None
    next_visit_due: date | None = None
    version: int


class PiiAccessOut(BaseModel):
    """One unmasked read: who, in which role, why, which fields of which person, when."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    person_id: str
    actor_id: str
    role: str
    purpose: str = Field(max_length=PURPOSE_MAX_LENGTH)
    fields: list[str]
    accessed_at: datetime


class ConsentWithdrawalIn(BaseModel):
    """The person withdraws consent (撤回同意, PIPL art. 15): all of it, or the scopes named."""

    model_config = ConfigDict(extra="forbid")

    scope: list[ConsentScope] | None = Field(
        None,
        min_length=1,
        max_length=len(ConsentScope),
        description="The scopes withdrawn; omit to withdraw every scope",
    )
    withdrawn_on: PastDate | None = Field(None, description="When the person said so; today")


class ConsentWithdrawalOut(BaseModel):
    """One withdrawal as recorded: ids and codes only (it is the audit entry)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    person_id: str
    scope: list[str]
    withdrawn_on: date
    recorded_by: str | None = Field(description="The account id of who recorded it")
    actor_id: str
    role: str
    erased: list[str] = Field(description="Fields whose values were erased (PIPL art. 47)")
    case_status_before: str
    case_status_after: str
    recorded_at: datetime


class ConsentWithdrawn(BaseModel):
    withdrawal: ConsentWithdrawalOut
    person: PersonOut


class CaseTransition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: CaseStatus
    exit_reason: ExitReason | None = Field(None, description="Required when exiting")


class TierChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: Tier


class VisitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visited_on: PastDate
    social_worker: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Who visited: the caller unless a station lead records another's visit",
    )
    findings: str = Field("", max_length=8000)
    observations: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Codes of the county's visit checklist (GET /observations) seen on this visit",
    )
    tier: Tier | None = Field(None, description="The tier after this visit, if it changes")


class VisitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    person_id: str
    household_id: str
    visited_on: date
    social_worker: str
    findings: str
    observations: list[str]
    tier_before: int | None
    tier_after: int | None
    created_at: datetime


class VisitRecorded(BaseModel):
    visit: VisitOut
    next_visit_due: date | None


class DueVisit(BaseModel):
    """A case whose next home visit is overdue or coming up."""

    person_id: str
    household_id: str
    name: str
    address: str
    social_worker: str | None
    tier: int
    last_visit_on: date | None
    due_on: date
    overdue: bool
    days_until_due: int


class DueVisitsOut(BaseModel):
    """One page of the due visits; `overdue`, `upcoming` and `total` count all of them."""

    station: str
    as_of: date
    within_days: int
    overdue: int
    upcoming: int
    total: int
    limit: int
    offset: int
    visits: list[DueVisit]


class NeedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    household_id: str = Field(min_length=1, max_length=ID_MAX_LENGTH)
    person_id: str | None = Field(None, min_length=1, max_length=ID_MAX_LENGTH)
    category: CategoryCode
    description: str = Field("", max_length=4000)
    urgency: Urgency = 3
    quantity: int = Field(1, ge=1, le=100_000)
    unit: UnitCode = Field("persons", description="persons, hours, portions… or 人, 小时, 份")
    needed_by: date | None = None
    location: GeoPoint | None = Field(None, description="Defaults to the household's")


class NeedUpdate(BaseModel):
    """What may change in an open need; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, max_length=4000)
    urgency: Urgency | None = None
    quantity: int | None = Field(None, ge=1, le=100_000)
    unit: UnitCode | None = None
    needed_by: date | None = None


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


class NeedTransition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: NeedStatus
    reason: str | None = Field(None, max_length=200, description="A short code or note")


class NeedStatusChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_status: str | None
    to_status: str
    actor: str | None
    reason: str | None
    changed_at: datetime


class MatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int | None = Field(None, ge=1, le=100)
    max_distance_km: float | None = Field(None, gt=0, le=MAX_DISTANCE_KM)
    exclude: list[ResourceId] = Field(default_factory=list, max_length=500)


class MatchesOut(BaseModel):
    need_id: str
    status: str
    results: list[RankedResource]
    candidates_considered: int


class StatsOut(BaseModel):
    """A station's figures as the seeds report them (建档, 探访户次, 需求, 链接, 成效)."""

    station: str
    since: date
    until: date
    households: int
    households_by_hardship: dict[str, int]
    persons: int
    persons_by_case_status: dict[str, int]
    persons_by_tier: dict[str, int]
    persons_by_group: dict[str, int]
    visits: int
    households_visited: int
    needs: int
    needs_by_status: dict[str, int]
    needs_by_category: dict[str, int]
    links_made: int
    outcomes: dict[str, int]


class ImportRowOut(BaseModel):
    """What became of one ledger row: ids, and each broken rule's header and rule."""

    row: int
    outcome: str = Field(description="created, updated, unchanged or refused")
    household_id: str | None
    person_id: str | None
    fields: list[str] = Field(description="What an update changed")
    errors: list[dict[str, str]]


class ImportJobOut(BaseModel):
    """A ledger import: `processed` of `total` rows so far; `rows` once it is done."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    file_name: str
    state: str = Field(
        description="running, done, failed, or interrupted (the service stopped mid-import: "
        "upload the ledger again; `error` says so in Chinese and English)"
    )
    total: int
    processed: int
    created: int
    updated: int
    unchanged: int
    refused: int
    ignored_columns: list[str]
    rows: list[ImportRowOut]
    error: str | None
    created_at: datetime
    finished_at: datetime | None

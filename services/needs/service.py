"""Domain operations of the needs service: plain functions over a session.

Households and needs live here; cases and visits (`cases/`), the station's
figures (`stats.py`) and the ledger import (`ledger_import.py`) are their own modules.
"""

import uuid
from collections.abc import Iterable
from datetime import date

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from services.needs import address, history, privacy
from services.needs.address import LocationPrecision
from services.needs.enums import ConsentScope
from services.needs.events import announce_need
from services.needs.models import Household, Need, NeedStatusChange, Person
from services.needs.schemas import (
    HouseholdCreate,
    HouseholdPatch,
    MatchRequest,
    NeedCreate,
    NeedUpdate,
)
from services.needs.states import CLOSED_NEED_STATES, NEED_TRANSITIONS, NeedStatus
from shared.access import within
from shared.actor import Actor
from shared.clock import china_today, utc_now
from shared.contracts import vocabulary
from shared.contracts.common import GeoPoint
from shared.contracts.matcher import RankRequest
from shared.contracts.needs import NEED_CLOSED, NEED_OPENED, NEED_UPDATED
from shared.crypto import name_index
from shared.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    ValidationFailed,
    unknown,
)

# Re-exported: the referrals sub-domain and older callers import these two from here.
__all__ = ["LocationPrecision", "NeedStatus"]

# Where a need may go from each state. A declined referral sends it back to matching; a
# service that stops early may be referred again.


def create_household(
    *, session: Session, data: HouseholdCreate, area: str | None = None
) -> Household:
    """Open a household file; without coordinates it is placed at its division's centroid.
    The adcode it ends up with (given, from the address, or the station's) and its station must
    lie in `area`, the caller's (403 otherwise)."""
    placed = _placement(data.address, data.adcode, data.location, data.station_adcode)
    now = utc_now()
    household = Household(
        id=str(uuid.uuid4()),
        address=data.address,
        address_hash=name_index(data.address),
        adcode=placed.adcode,
        lat=placed.lat,
        lon=placed.lon,
        location_precision=placed.precision,
        hardship_categories=list(data.hardship_categories),
        station_adcode=data.station_adcode,
        social_worker=data.social_worker,
        version=1,
        created_at=now,
        updated_at=now,
    )
    check_in_area(household, area)
    session.add(household)
    session.flush()
    return household


def _placement(
    address_text: str, adcode: str | None, location: GeoPoint | None, station: str | None
) -> address.Placement:
    placed = address.place(address=address_text, adcode=adcode, station_adcode=station)
    if location is not None:
        placed = address.Placement(
            placed.adcode, location.lat, location.lon, LocationPrecision.EXACT
        )
    return placed


def check_in_area(household: Household, area: str | None) -> None:
    """403 naming the field when the household's adcode or station lies outside `area` (None:
    the caller sees every area). Checked on create and on every edit (issue 13, item 6)."""
    if area is None:
        return
    for name, code in (("adcode", household.adcode), ("station_adcode", household.station_adcode)):
        if code is not None and not within(code, area):
            raise Forbidden(
                f"the household's {name} would lie outside your jurisdiction",
                extra={"rule": "scope", "field": name},
            )


HOUSEHOLD_FIELDS = ("address", "hardship_categories", "station_adcode", "social_worker")
PLACEMENT_FIELDS = ("adcode", "lat", "lon", "location_precision")


def update_household(
    *,
    session: Session,
    household_id: str,
    data: HouseholdPatch,
    actor: Actor,
    area: str | None,
    expected_version: int | None,
    source: str = "api",
) -> Household:
    """Change a household file (412 on a stale version); a new address or adcode places it
    again, checked against the caller's area; the edit is kept in its history (field names)."""
    household = locked_household(session, household_id, expected_version)
    changes = {
        k: v
        for k, v in data.model_dump(exclude_unset=True).items()
        if k not in ("address", "adcode", "station_adcode") or v != getattr(household, k)
    }
    for name in ("address", "hardship_categories"):
        if name in changes and changes[name] is None:
            raise ValidationFailed.one(name, "not_null", "give a value or leave the field out")
    wanted = {k: changes[k] for k in HOUSEHOLD_FIELDS if k in changes}
    if {"address", "adcode", "location", "station_adcode"} & changes.keys():
        wanted |= _placed_again(household, changes, data)
    changed = [k for k, v in wanted.items() if getattr(household, k) != v]
    was_at = (household.lat, household.lon)
    for name in changed:
        setattr(household, name, wanted[name])
    if "address" in changed:
        household.address_hash = name_index(household.address)
    check_in_area(household, area)
    if changed:
        household.version += 1
        household.updated_at = utc_now()
        history.record(
            session, household, record_type="household", fields=changed, actor=actor, source=source
        )
    if set(PLACEMENT_FIELDS) & set(changed):
        _open_needs_follow(session, household, was_at)
    return household


def _open_needs_follow(
    session: Session, household: Household, was_at: tuple[float | None, float | None]
) -> None:
    """A household that moved takes its open needs along: those located where it was (not
    given a place of their own) and their division, announced so the matcher sees the move."""
    open_needs = session.scalars(
        select(Need).where(
            Need.household_id == household.id, Need.status.not_in(list(CLOSED_NEED_STATES))
        )
    )
    for need in open_needs:
        if (
            (need.lat, need.lon) == was_at
            and household.lat is not None
            and household.lon is not None
        ):
            need.lat, need.lon = household.lat, household.lon
        elif need.adcode == household.adcode:
            continue
        need.adcode = household.adcode
        need.version += 1
        need.updated_at = utc_now()
        announce_need(session, need, NEED_UPDATED)


def _placed_again(
    household: Household, changes: dict[str, object], data: HouseholdPatch
) -> dict[str, object]:
    """Where an edit puts the household: a new address is resolved again unless an adcode is
    given; coordinates follow the new place unless given, and stay when only the station moves."""
    if "adcode" in changes:
        adcode = data.adcode
    else:
        adcode = None if "address" in changes else household.adcode
    placed = _placement(
        data.address or household.address,
        adcode,
        data.location,
        data.station_adcode if "station_adcode" in changes else household.station_adcode,
    )
    if not {"address", "adcode", "location"} & changes.keys():
        placed = address.Placement(
            placed.adcode, household.lat, household.lon, household.location_precision
        )
    return dict(
        zip(
            PLACEMENT_FIELDS,
            (placed.adcode, placed.lat, placed.lon, placed.precision),
            strict=True,
        )
    )


def locked_household(
    session: Session, household_id: str, expected_version: int | None
) -> Household:
    """The household, locked for a change, at the version expected (412 otherwise)."""
    household = session.get(Household, household_id, with_for_update=True)
    if household is None:
        raise unknown("household")
    history.check_version("household", household.version, expected_version)
    return household


def get_household_or_raise(*, session: Session, household_id: str) -> Household:
    """The household with this id, or NotFound."""
    household = session.get(Household, household_id)
    if household is None:
        raise unknown("household")
    return household


def in_station(station: str) -> ColumnElement[bool]:
    """SQL condition: the household belongs to a station whose code starts with `station`
    (a township's 9 digits for its station, a county's 6 for the county hub)."""
    return func.coalesce(Household.station_adcode, Household.adcode).like(f"{station}%")


def create_need(*, session: Session, data: NeedCreate, actor: str | None = None) -> Need:
    """Record a need; it is located where the household is unless given its own location."""
    household = session.get(Household, data.household_id)
    if household is None:
        raise ValidationFailed.one("household_id", "exists", "no household with this id")
    if data.person_id is not None:
        person = session.get(Person, data.person_id)
        if person is None or person.household_id != household.id:
            raise ValidationFailed.one(
                "person_id", "in_household", "no person with this id in the household"
            )
        if ConsentScope.CASE_FILE in (person.consent_withdrawn or ()):
            raise ValidationFailed.one(
                "person_id",
                "consent_withdrawn",
                "the person withdrew consent to the case file: record consent again first",
            )
    if data.location is not None:
        lat, lon = data.location.lat, data.location.lon
    elif household.lat is not None and household.lon is not None:
        lat, lon = household.lat, household.lon
    else:
        raise ValidationFailed.one(
            "location", "required", "the household has no location: give the need's location"
        )
    now = utc_now()
    need = Need(
        id=str(uuid.uuid4()),
        household_id=household.id,
        person_id=data.person_id,
        category=data.category,
        description=data.description,
        urgency=data.urgency,
        quantity=data.quantity,
        unit=data.unit,
        needed_by=data.needed_by,
        lat=lat,
        lon=lon,
        adcode=household.adcode,
        status=NeedStatus.OPEN.value,
        version=1,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(need)
    session.flush()
    _record_change(session, need, None, actor=actor, reason=None)
    announce_need(session, need, NEED_OPENED)
    return need


def get_need_or_raise(*, session: Session, need_id: str) -> Need:
    """The need with this id, or NotFound."""
    need = session.get(Need, need_id)
    if need is None:
        raise unknown("need")
    return need


def update_need(*, session: Session, need: Need, data: NeedUpdate, actor: str | None) -> Need:
    """Change what a need asks for (urgency, quantity …) while it is not closed; announce it."""
    if need.status in CLOSED_NEED_STATES:
        raise Conflict(f"the need is {need.status}: a closed need does not change")
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None and name != "needed_by":
            raise ValidationFailed.one(name, "not_null", "give a value or leave the field out")
        setattr(need, name, value)
    if changes:
        need.version += 1
        need.updated_at = utc_now()
        announce_need(session, need, NEED_UPDATED)
    return need


def set_need_status(
    *, session: Session, need: Need, status: str, actor: str | None, reason: str | None = None
) -> Need:
    """Move a need to `status`, stamped with who and when, and announce it."""
    if need.status == status:
        return need
    allowed = NEED_TRANSITIONS.get(need.status, frozenset())
    if status not in allowed:
        raise InvalidTransition(
            f"a need cannot go from {need.status} to {status}; allowed: "
            + (", ".join(sorted(allowed)) or "none (the need is closed)"),
            extra={"from": need.status, "to": status, "allowed": sorted(allowed)},
        )
    previous = need.status
    need.status = status
    need.version += 1
    need.updated_at = utc_now()
    _record_change(session, need, previous, actor=actor, reason=reason)
    announce_need(session, need, NEED_CLOSED if status in CLOSED_NEED_STATES else NEED_UPDATED)
    return need


def get_need_history(
    *, session: Session, need_id: str, limit: int | None = None, offset: int = 0
) -> list[NeedStatusChange]:
    """The status changes of a need, oldest first (one page when `limit` is given)."""
    get_need_or_raise(session=session, need_id=need_id)
    query = (
        select(NeedStatusChange)
        .where(NeedStatusChange.need_id == need_id)
        .order_by(NeedStatusChange.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query))


def match_request(
    *, session: Session, need_id: str, request: MatchRequest, default_k: int
) -> RankRequest:
    """What to ask the matcher for a need, with the groups of its person for eligibility;
    409 when the person withdrew the consent matches and referrals rest on."""
    need = get_need_or_raise(session=session, need_id=need_id)
    check_takes_referrals(session=session, need=need)
    person = session.get(Person, need.person_id) if need.person_id is not None else None
    household = get_household_or_raise(session=session, household_id=need.household_id)
    groups = eligibility_groups(person, household)
    known = personal_data_of(session=session, need=need)
    return rank_request(need=need, request=request, default_k=default_k, groups=groups, known=known)


def eligibility_groups(person: Person | None, household: Household) -> list[str]:
    """The groups a resource's eligibility is checked against: the person's, with those their
    age and the household's hardship imply; none for a need of the whole household."""
    if person is None:
        return []
    return vocabulary.for_eligibility(
        person.groups,
        age=age_on(person.date_of_birth, china_today()),
        hardship=household.hardship_categories,
    )


def check_takes_referrals(*, session: Session, need: Need) -> None:
    """Raise Conflict (409) when the need's person withdrew consent to the case file or to
    referral sharing (PIPL art. 15): no matches, no referrals until given again."""
    person = session.get(Person, need.person_id) if need.person_id is not None else None
    withdrawn = privacy.withdrawn_for_referrals(person) if person is not None else []
    if withdrawn:
        raise Conflict(
            f"the need's person withdrew consent ({', '.join(withdrawn)}): no matches or "
            "referrals until consent is given again",
            extra={"rule": "consent_withdrawn", "withdrawn": withdrawn},
        )


def personal_data_of(*, session: Session, need: Need) -> list[str]:
    """The household's address and its persons' names, ID numbers and phones: what the need's
    free text must not carry out of this service."""
    household = session.get(Household, need.household_id)
    values = [household.address] if household else []
    for person in session.scalars(select(Person).where(Person.household_id == need.household_id)):
        values += [person.name, person.resident_id or "", person.phone or ""]
    return [v for v in values if v]


def age_on(born: date | None, day: date) -> int | None:
    """Full years of age on `day`, or None when the birth date is unknown."""
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def mark_matching(*, session: Session, need_id: str, actor: str | None) -> Need:
    """An open need whose matches were asked for is being matched; other states stay."""
    need = get_need_or_raise(session=session, need_id=need_id)
    if need.status == NeedStatus.OPEN:
        set_need_status(
            session=session, need=need, status=NeedStatus.MATCHING, actor=actor, reason=None
        )
    return need


def rank_request(
    *,
    need: Need,
    request: MatchRequest,
    default_k: int,
    groups: list[str] | None = None,
    known: Iterable[str] = (),
) -> RankRequest:
    """What to ask the matcher for this need: codes, a location and the need's text with
    personal data taken out (`known` values and long numbers), nothing personal."""
    return RankRequest(
        category=need.category,
        lat=need.lat,
        lon=need.lon,
        adcode=need.adcode,
        quantity=need.quantity,
        unit=need.unit,
        urgency=need.urgency,
        groups=groups or [],
        text=privacy.redact(need.description, known=known),
        exclude=request.exclude,
        k=request.k or default_k,
        max_distance_km=request.max_distance_km,
    )


def _record_change(
    session: Session, need: Need, previous: str | None, *, actor: str | None, reason: str | None
) -> None:
    session.add(
        NeedStatusChange(
            need_id=need.id,
            from_status=previous,
            to_status=need.status,
            actor=actor,
            reason=reason,
            changed_at=need.updated_at,
        )
    )

"""Domain operations of the needs service: plain functions over a session."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from services.needs.models import Household, Need, OutboxEvent
from services.needs.schemas import HouseholdCreate, MatchRequest, NeedCreate
from shared import divisions
from shared.contracts.matcher import RankRequest
from shared.contracts.needs import NEED_CLOSED, NEED_OPENED, NEED_UPDATED, NeedEvent
from shared.errors import NotFound, ValidationFailed
from shared.outbox import add_event


class NeedStatus:
    """The states of a need, in the order a need usually passes through them."""

    OPEN = "open"
    MATCHING = "matching"
    REFERRED = "referred"
    IN_SERVICE = "in_service"
    MET = "met"
    CLOSED_UNMET = "closed_unmet"
    WITHDRAWN = "withdrawn"


class LocationPrecision:
    EXACT = "exact"
    DISTRICT_CENTROID = "district_centroid"
    UNKNOWN = "unknown"


def _now() -> datetime:
    return datetime.now(UTC)


def create_household(*, session: Session, data: HouseholdCreate) -> Household:
    """Open a household file; without coordinates it is placed at its county's centroid."""
    lat, lon, precision = _locate(data)
    household = Household(
        id=str(uuid.uuid4()),
        address=data.address,
        adcode=data.adcode,
        lat=lat,
        lon=lon,
        location_precision=precision,
        hardship_categories=data.hardship_categories,
        station_adcode=data.station_adcode,
        social_worker=data.social_worker,
        created_at=_now(),
        updated_at=_now(),
    )
    session.add(household)
    session.flush()
    return household


def _locate(data: HouseholdCreate) -> tuple[float | None, float | None, str]:
    if data.location is not None:
        return data.location.lat, data.location.lon, LocationPrecision.EXACT
    county = divisions.county_of(data.adcode)
    if county is not None and county.lat is not None:
        return county.lat, county.lon, LocationPrecision.DISTRICT_CENTROID
    return None, None, LocationPrecision.UNKNOWN


def get_household_or_raise(*, session: Session, household_id: str) -> Household:
    household = session.get(Household, household_id)
    if household is None:
        raise NotFound(f"no household with id {household_id}")
    return household


def create_need(*, session: Session, data: NeedCreate, actor: str | None = None) -> Need:
    """Record a need; it is located where the household is unless given its own location."""
    household = session.get(Household, data.household_id)
    if household is None:
        raise ValidationFailed.one(
            "household_id", "exists", f"no household with id {data.household_id}"
        )
    if data.location is not None:
        lat, lon = data.location.lat, data.location.lon
    elif household.lat is not None and household.lon is not None:
        lat, lon = household.lat, household.lon
    else:
        raise ValidationFailed.one(
            "location", "required", "the household has no location: give the need's location"
        )
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
        status=NeedStatus.OPEN,
        version=1,
        created_by=actor,
        created_at=_now(),
        updated_at=_now(),
    )
    session.add(need)
    session.flush()
    _publish(session, need, NEED_OPENED)
    return need


def get_need_or_raise(*, session: Session, need_id: str) -> Need:
    need = session.get(Need, need_id)
    if need is None:
        raise NotFound(f"no need with id {need_id}")
    return need


def set_need_status(*, session: Session, need: Need, status: str, actor: str | None) -> Need:
    """Move a need to `status`, stamped with who and when, and announce it."""
    if need.status == status:
        return need
    need.status = status
    need.version += 1
    need.updated_at = _now()
    closed = status in (NeedStatus.MET, NeedStatus.CLOSED_UNMET, NeedStatus.WITHDRAWN)
    _publish(session, need, NEED_CLOSED if closed else NEED_UPDATED)
    return need


def rank_request(*, need: Need, request: MatchRequest, default_k: int) -> RankRequest:
    """What to ask the matcher for this need: codes and a location, nothing personal."""
    return RankRequest(
        category=need.category,
        lat=need.lat,
        lon=need.lon,
        adcode=need.adcode,
        quantity=need.quantity,
        urgency=need.urgency,
        groups=[],
        text=need.description,
        exclude=request.exclude,
        k=request.k or default_k,
        max_distance_km=request.max_distance_km,
    )


def _publish(session: Session, need: Need, subject: str) -> None:
    event = NeedEvent(
        need_id=need.id,
        household_id=need.household_id,
        category=need.category,
        status=need.status,
        urgency=need.urgency,
        adcode=need.adcode[:9],
        version=need.version,
        occurred_at=need.updated_at,
    )
    add_event(session, OutboxEvent, subject=subject, aggregate_id=need.id, payload=event)

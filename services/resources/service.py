"""Domain operations on resources: plain functions over a session, no HTTP, no NATS.

The capacity ledger lives in `capacity.py`; what the matcher is told, in `publication.py`.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from services.resources import capacity, duplicates, privacy
from services.resources.models import Resource
from services.resources.publication import announce, announce_new, touch
from services.resources.schemas import ResourceCreate, ResourcePatch
from shared import geo, taxonomy
from shared.clock import utc_now
from shared.crypto import phone_index
from shared.db import insert_rows
from shared.errors import (
    FieldError,
    PreconditionFailed,
    ValidationFailed,
    field_errors,
    unknown,
)


@dataclass(frozen=True)
class ListFilter:
    """What a list request asks for; every field narrows the result."""

    kind: str | None = None
    organization: str | None = None
    category: str | None = None
    adcode: str | None = None
    near: tuple[float, float] | None = None
    within_km: float | None = None
    has_capacity: bool | None = None
    active: bool | None = None
    flagged: bool | None = None
    draft: bool | None = None
    capacity_flagged: bool | None = None


def create(
    *,
    session: Session,
    data: ResourceCreate,
    resource_id: str | None = None,
    capacity_remaining: int | None = None,
    draft: dict[str, list[str]] | None = None,
) -> Resource:
    """Register (flagged if it looks registered already) and announce; `capacity_remaining`
    carries over what another system had left of this period. A `draft` (what it still
    lacks) is registered inactive: the matcher hears of it only as inactive."""
    resource = new_resource(
        data=data, resource_id=resource_id, capacity_remaining=capacity_remaining, draft=draft
    )
    twin = duplicates.find_duplicate(
        session=session,
        name=data.name,
        lat=data.location.lat,
        lon=data.location.lon,
        phone=resource.contact_phone,
    )
    resource.duplicate_of = twin.id if twin else None
    session.add(resource)
    session.flush()
    announce(session=session, resource=resource, new=True)
    return resource


def create_many(
    *, session: Session, items: list[tuple[ResourceCreate, int | None]]
) -> list[tuple[str, str | None]]:
    """Register many active resources (each with what it has left of this period, or None)
    as `create` would one after another, and give each one's id and the id of the resource it
    was flagged as a duplicate of: a resource already registered or one before it in `items`
    (duplicates.find_twins). Written without ORM objects, one INSERT per table: the ORM's
    bookkeeping of an object (an event per attribute, the flush's) cost more than its row."""
    rows = [registration(data=data, capacity_remaining=remaining) for data, remaining in items]
    for row, twin_id in zip(rows, duplicates.find_twins(session=session, rows=rows), strict=True):
        row["duplicate_of"] = twin_id
    insert_rows(session, Resource.__table__, rows)  # type: ignore[arg-type]
    announce_new(session=session, rows=rows)
    return [(row["id"], row["duplicate_of"]) for row in rows]


def new_resource(
    *,
    data: ResourceCreate,
    resource_id: str | None = None,
    capacity_remaining: int | None = None,
    draft: dict[str, list[str]] | None = None,
) -> Resource:
    """A resource as registered, keyed for duplicate detection; not yet compared with the
    library nor added to a session."""
    return Resource(
        **registration(
            data=data, resource_id=resource_id, capacity_remaining=capacity_remaining, draft=draft
        )
    )


def registration(
    *,
    data: ResourceCreate,
    resource_id: str | None = None,
    capacity_remaining: int | None = None,
    draft: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The columns of a resource as registered (`new_resource`'s), by column name."""
    now = utc_now()
    total = data.capacity.total
    return {
        "id": resource_id or str(uuid.uuid4()),
        "active": draft is None,
        "draft": draft,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        **_fields(data),
        "capacity_remaining": total
        if capacity_remaining is None
        else min(capacity_remaining, total),
        "period_started_at": capacity.period_start(period=data.capacity.period.value, now=now),
    }


def _apply(resource: Resource, data: ResourceCreate) -> None:
    for column, value in _fields(data).items():
        setattr(resource, column, value)


def _fields(data: ResourceCreate) -> dict[str, Any]:
    """The columns a registration (or a replacement) sets from its body, keyed for duplicate
    detection."""
    name = data.name.strip()
    phone = normalise_phone(data.contact_phone)
    return {
        "name": name,
        "kind": data.kind.value,
        "organization": data.organization,
        "categories": list(dict.fromkeys(data.categories)),
        "description": data.description,
        "lat": data.location.lat,
        "lon": data.location.lon,
        "radius_km": data.radius_km,
        "adcodes": list(dict.fromkeys(data.adcodes)),
        "eligible_groups": data.eligible_groups,
        "capacity_total": data.capacity.total,
        "capacity_unit": data.capacity.unit,
        "capacity_period": data.capacity.period.value,
        "capacity_mode": data.capacity.mode.value,
        "hours": [h.model_dump() for h in data.hours],
        "available_from": data.available_from,
        "available_until": data.available_until,
        "contact_name": data.contact_name,
        "contact_phone": phone,
        "contact_phone_hash": phone_index(phone),
        "verified": data.verified,
        **duplicates.keys(name=name, lat=data.location.lat, lon=data.location.lon),
    }


def as_input(resource: Resource) -> ResourceCreate:
    """The resource as the body that would register it again (PATCH merges into this)."""
    return ResourceCreate.model_validate(_input_dict(resource))


def _input_dict(resource: Resource) -> dict[str, Any]:
    return {
        "name": resource.name,
        "kind": resource.kind,
        "organization": resource.organization,
        "categories": list(resource.categories),
        "description": resource.description,
        "location": {"lat": resource.lat, "lon": resource.lon},
        "radius_km": resource.radius_km,
        "adcodes": list(resource.adcodes),
        "eligible_groups": list(resource.eligible_groups),
        "capacity": {
            "total": resource.capacity_total,
            "unit": resource.capacity_unit,
            "period": resource.capacity_period,
            "mode": resource.capacity_mode,
        },
        "hours": list(resource.hours),
        "available_from": resource.available_from,
        "available_until": resource.available_until,
        "contact_name": resource.contact_name,
        "contact_phone": resource.contact_phone,
        "verified": resource.verified,
    }


def get_or_raise(*, session: Session, resource_id: str) -> Resource:
    """The resource with this id, or NotFound."""
    resource = session.get(Resource, resource_id)
    if resource is None:
        raise unknown("resource")
    return resource


def _locked_or_raise(session: Session, resource_id: str, expected_version: int | None) -> Resource:
    # FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers.
    resource = session.get(Resource, resource_id, with_for_update=True)
    if resource is None:
        raise unknown("resource")
    if expected_version is not None and expected_version != resource.version:
        raise PreconditionFailed(
            f"resource {resource_id} is at version {resource.version}, not {expected_version}",
            extra={"current_version": resource.version},
        )
    return resource


def update(
    *, session: Session, resource_id: str, data: ResourceCreate, expected_version: int | None
) -> Resource:
    """Replace a resource's fields; units held by referrals stay held under the new total."""
    resource = _locked_or_raise(session, resource_id, expected_version)
    contacts = data.model_dump(include=set(privacy.CONTACT_FIELDS))
    data = data.model_copy(update=_contacts_kept(contacts, resource))
    used = capacity.used_units(session=session, resource=resource)
    if data.capacity.total != resource.capacity_total:
        resource.capacity_flagged_at = None  # the coordinator corrected the stated capacity
    _apply(resource, data)
    resource.draft = None  # every rule of a complete resource held: nothing is missing now
    resource.capacity_remaining = max(resource.capacity_total - used, 0)
    session.flush()
    capacity.promote_waitlist(session=session, resource_id=resource.id)
    session.flush()
    session.refresh(resource)
    touch(resource)
    announce(session=session, resource=resource)
    return resource


def patch(
    *, session: Session, resource_id: str, changes: ResourcePatch, expected_version: int | None
) -> Resource:
    """Change some fields (JSON merge patch); the result must pass every rule of a new one."""
    stored = get_or_raise(session=session, resource_id=resource_id)
    changed = _merge(_input_dict(stored), changes.model_dump(mode="json", exclude_unset=True))
    # Before validation: a masked phone sent back would otherwise fail the phone's pattern.
    merged = _contacts_kept(changed, stored)
    try:
        data = ResourceCreate.model_validate(merged)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(list(exc.errors()))) from exc
    return update(
        session=session, resource_id=resource_id, data=data, expected_version=expected_version
    )


def _contacts_kept(body: dict[str, Any], stored: Resource) -> dict[str, Any]:
    """`body` with a contact sent back as the masked answer showed it kept as stored (not
    overwritten by its mask); any other masked contact is a 422 `masked_value`."""
    kept, errors = privacy.unmask_kept(body, stored)
    if errors:
        raise ValidationFailed(errors)
    return kept


def _merge(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def deactivate(
    *, session: Session, resource_id: str, expected_version: int | None = None
) -> Resource:
    """Take a resource out of matching; its history stays."""
    resource = _locked_or_raise(session, resource_id, expected_version)
    if resource.active:
        resource.active = False
        touch(resource)
        announce(session=session, resource=resource)
    return resource


def activate(
    *, session: Session, resource_id: str, expected_version: int | None = None
) -> Resource:
    """Bring a deactivated resource back into matching; a draft must be completed first."""
    resource = _locked_or_raise(session, resource_id, expected_version)
    if resource.draft:
        message = "a draft read from another directory: give it with PUT or PATCH first"
        missing = resource.draft.get("missing") or ["draft"]
        raise ValidationFailed(
            [FieldError(field, "draft_incomplete", message) for field in missing]
        )
    if not resource.active:
        resource.active = True
        touch(resource)
        announce(session=session, resource=resource)
    return resource


def get_all(
    *, session: Session, where: ListFilter, limit: int = 50, offset: int = 0
) -> tuple[list[Resource], int]:
    """A page of resources and the total that match; nearest first when `near` is given."""
    query = select(Resource)
    if where.kind:
        query = query.where(Resource.kind == where.kind)
    if where.organization is not None:
        query = query.where(Resource.organization == where.organization)
    if where.active is not None:
        query = query.where(Resource.active == where.active)
    if where.has_capacity is not None:
        has = Resource.capacity_remaining > 0
        query = query.where(has if where.has_capacity else ~has)
    if where.flagged is not None:
        flagged = Resource.duplicate_of.is_not(None)
        query = query.where(flagged if where.flagged else ~flagged)
    if where.capacity_flagged is not None:
        disputed = Resource.capacity_flagged_at.is_not(None)
        query = query.where(disputed if where.capacity_flagged else ~disputed)
    rows = list(session.scalars(query.order_by(Resource.created_at, Resource.id)))
    # Categories and adcodes are JSON lists: filtered here, which a county's library affords.
    if where.category:
        rows = [r for r in rows if any(_within(c, where.category) for c in r.categories)]
    if where.draft is not None:
        rows = [r for r in rows if bool(r.draft) == where.draft]
    if where.adcode:
        prefix = where.adcode
        rows = [r for r in rows if any(a.startswith(prefix) for a in r.adcodes)]
    if where.near is not None:
        lat, lon = where.near
        distance = {r.id: geo.haversine_km(lat, lon, r.lat, r.lon) for r in rows}
        if where.within_km is not None:
            rows = [r for r in rows if distance[r.id] <= where.within_km]
        rows.sort(key=lambda r: distance[r.id])
    return rows[offset : offset + limit], len(rows)


def _within(code: str, category: str) -> bool:
    return code == category or (taxonomy.top_level(code) == category and "." not in category)


def normalise_phone(phone: str | None) -> str | None:
    """The phone with spaces and dashes taken out, so the same number compares equal."""
    if phone is None:
        return None
    return re.sub(r"[\s-]", "", phone) or None


def dismiss_duplicate(*, session: Session, resource_id: str) -> Resource:
    """A coordinator decided the flagged resource is a different organization: keep both."""
    resource = _locked_or_raise(session, resource_id, None)
    resource.duplicate_of = None
    touch(resource)
    return resource


def reencrypt_contacts(*, session: Session) -> int:
    """Rewrite every contact under the current key and recompute the phone's blind index
    (key rotation); returns how many resources were rewritten."""
    rows = 0
    for resource in session.scalars(select(Resource)):
        flag_modified(resource, "contact_name")
        flag_modified(resource, "contact_phone")
        resource.contact_phone_hash = phone_index(resource.contact_phone)
        rows += 1
    session.flush()
    return rows


def flag_capacity(*, session: Session, resource_id: str, at: datetime) -> Resource | None:
    """A referral was declined for no capacity while the ledger shows units left: flag the
    stated capacity for the coordinator to correct (the first flag's time is kept). A decline
    because the last unit went elsewhere is no sign of a wrong total and flags nothing."""
    resource = session.get(Resource, resource_id, with_for_update=True)
    if resource is None or resource.capacity_remaining <= 0:
        return resource
    if resource.capacity_flagged_at is None:
        resource.capacity_flagged_at = at
    return resource

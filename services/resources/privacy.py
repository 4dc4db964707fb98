"""A resource's contact (a volunteer's own name and mobile, often) in answers: masked by
default; in full only for a stated purpose, to a role that reaches out to resources, and every
such read written to the access log the county hub reviews (see `shared/access_log.py`).

Social workers and station leads phone a charity to arrange a referral; the county hub
verifies registrations and coordinates the alliance; a coordinator keeps their own
organization's contacts up to date. Other roles (alliance reviewers, administrators) see the
masked contact only.
"""

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from services.resources.models import ContactAccess, Resource
from shared import access_log
from shared.access import outside_scope
from shared.actor import Actor
from shared.errors import FieldError
from shared.masking import mask_name, mask_phone

UNMASK_ROLES = frozenset({"social_worker", "station_lead", "county_hub", "coordinator"})
CONTACT_FIELDS = ("contact_name", "contact_phone")


class Purpose(StrEnum):
    """Why a caller needs a resource's contact in full."""

    REFERRAL = "referral"  # 转介: phoning the resource to arrange or follow up a referral
    VERIFICATION = "verification"  # 核实: confirming a registration with the organization
    UPKEEP = "upkeep"  # 维护: the organization's coordinator keeping its records right


def may_unmask(*, actor: Actor, purpose: Purpose | None) -> bool:
    """Whether contacts are shown in full: a purpose stated by a role that may (else 403)."""
    return access_log.may_unmask(actor=actor, purpose=purpose, roles=UNMASK_ROLES)


def reaches(actor: Actor, resource: Resource) -> bool:
    """A coordinator unmasks only their own organization's contacts; the other roles, any."""
    return actor.role != "coordinator" or (
        bool(actor.organization) and resource.organization == actor.organization
    )


def check_reaches(actor: Actor, resource: Resource) -> None:
    """403 for a coordinator asking for another organization's contact in full."""
    if not reaches(actor, resource):
        raise outside_scope("this resource's contact")


def shown(resource: Resource, *, unmasked: bool) -> dict[str, str | None]:
    """The contact name and phone as an answer shows them."""
    name, phone = resource.contact_name, resource.contact_phone
    if unmasked:
        return {"contact_name": name, "contact_phone": phone}
    return {
        "contact_name": mask_name(name) if name else None,
        "contact_phone": mask_phone(phone) if phone else None,
    }


MASK = "*"


def unmask_kept(
    data: dict[str, Any], stored: Resource | None
) -> tuple[dict[str, Any], list[FieldError]]:
    """A body read from a masked export, with each contact still masked as the stored one
    shows masked replaced by the stored value (kept, not overwritten by its mask); any other
    masked value is an error: nobody can have meant to store `138****5678`."""
    kept, errors = dict(data), []
    masked_now = shown(stored, unmasked=False) if stored is not None else {}
    for field in CONTACT_FIELDS:
        value = data.get(field)
        if not isinstance(value, str) or MASK not in value:
            continue
        if stored is not None and value in (masked_now[field], getattr(stored, field)):
            kept[field] = getattr(stored, field)  # shown masked, or sent back unchanged
        else:
            message = "a masked value: read the contact with ?purpose= to change it"
            errors.append(FieldError(field, "masked_value", message))
    return kept, errors


def record_access(
    *, session: Session, actor: Actor, purpose: Purpose, resources: Iterable[Resource]
) -> list[ContactAccess]:
    """Write one access-log row per resource whose contact is being shown in full."""
    return access_log.log_reads(
        session=session, record_type=ContactAccess, subject="resource_id", records=resources,
        fields=CONTACT_FIELDS, actor=actor, purpose=purpose,
    )  # fmt: skip


def get_access_log(
    *,
    session: Session,
    resource_id: str | None = None,
    actor_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[ContactAccess]:
    """Unmasked reads of contacts, newest first, narrowed as asked."""
    return access_log.read_log(
        session=session, record_type=ContactAccess, subject="resource_id",
        subject_id=resource_id, actor_id=actor_id, since=since, limit=limit,
    )  # fmt: skip

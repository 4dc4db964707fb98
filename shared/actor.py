"""Who is acting: every state change is stamped with an actor, the verified signed-in user."""

from dataclasses import dataclass

from fastapi import Request

from shared.access import authenticated


@dataclass(frozen=True)
class Actor:
    """A user id and role (social_worker, station_lead, county_hub, coordinator, …) and the
    scope their token carries: a station's adcode prefix, an organization, a department."""

    id: str
    role: str
    adcode: str | None = None
    organization: str | None = None
    department: str | None = None


def actor_from_request(request: Request) -> Actor:
    """The signed-in user behind an HTTP request (FastAPI dependency); 401 without a token."""
    principal = authenticated(request)
    return Actor(
        id=principal.sub,
        role=principal.role.value,
        adcode=principal.adcode,
        organization=principal.organization,
        department=principal.department,
    )

"""Who is acting: every state change is stamped with an actor, the verified signed-in user."""

from dataclasses import dataclass

from fastapi import Request

from shared.access import authenticated
from shared.errors import Forbidden


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


# Who may record that someone else did something (a visit, a consent, a household in their
# care): the lead of a station, for its workers, and admins. Everyone else is the doer.
MAY_NAME_OTHERS = frozenset({"station_lead", "admin"})


def stamp(field: str, given: str | None, actor: Actor) -> str:
    """The who-did-it value of `field`: the caller's account id, or `given` when the caller's
    role may name another (403 naming the field otherwise; rule `set_by_token`)."""
    if given is None or given == actor.id:
        return actor.id
    if actor.role in MAY_NAME_OTHERS:
        return given
    raise Forbidden(
        f"{field} is taken from your sign-in: a {actor.role} records only what they did",
        extra={"rule": "set_by_token", "field": field},
    )

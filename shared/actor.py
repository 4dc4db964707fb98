"""Who is acting: every state change is stamped with an actor.

Until sign-in lands (issue 8), the caller names itself in headers; sign-in will replace this
function's body with a verified token and keep its signature.
"""

from dataclasses import dataclass

from fastapi import Request

ACTOR_HEADER = "X-Lianjie-Actor"
ROLE_HEADER = "X-Lianjie-Role"


@dataclass(frozen=True)
class Actor:
    """A user id and role (social_worker, station_lead, county_hub, coordinator, …)."""

    id: str
    role: str


ANONYMOUS = Actor(id="anonymous", role="anonymous")


def actor_from_request(request: Request) -> Actor:
    """The actor behind an HTTP request (FastAPI dependency)."""
    actor_id = request.headers.get(ACTOR_HEADER, "").strip()[:64]
    role = request.headers.get(ROLE_HEADER, "").strip()[:32]
    if not actor_id:
        return ANONYMOUS
    return Actor(id=actor_id, role=role or "unknown")

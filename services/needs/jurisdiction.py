"""Jurisdiction in the needs service: case data is seen and changed only within the caller's
area — a station's adcode prefix for social workers and station leads, the county's for the
county hub. The record a request names (in its path, or the household or need in its body) is
looked up and its household adcode compared; lists are filtered by `area_of`.

Coordinators reach referrals by role only for now: the organization of a referral's resource
lives in the resources service (see docs/access.md)."""

from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs.models import Household, Need, Person
from services.needs.referrals.models import Referral
from shared.access import Reach, Rule, outside_scope, principal_of, within
from shared.auth import Principal, Role
from shared.db import run_read

AREA_ROLES = {Role.SOCIAL_WORKER, Role.STATION_LEAD, Role.COUNTY_HUB}


def area_of(request: Request) -> str | None:
    """The adcode prefix lists are filtered by; None for a caller who sees every area."""
    principal = principal_of(request.scope)
    if principal is None or principal.role is Role.ADMIN:
        return None
    return principal.adcode or "-"  # no adcode: an area that matches nothing


def _adcode(session: Session, kind: str, key: str) -> str | None:
    if kind == "household_id":
        return session.scalar(select(Household.adcode).where(Household.id == key))
    if kind == "person_id":
        return session.scalar(
            select(Household.adcode)
            .join(Person, Person.household_id == Household.id)
            .where(Person.id == key)
        )
    if kind == "need_id":
        return session.scalar(
            select(Household.adcode)
            .join(Need, Need.household_id == Household.id)
            .where(Need.id == key)
        )
    return session.scalar(select(Referral.adcode).where(Referral.id == key))


async def _named_in_body(request: Request) -> dict[str, str]:
    if request.method not in ("POST", "PUT", "PATCH"):
        return {}
    try:
        body: Any = await request.json()
    except ValueError:
        return {}  # the route answers 422
    if not isinstance(body, dict):
        return {}
    return {
        k: v for k, v in body.items() if k in ("household_id", "need_id") and isinstance(v, str)
    }


async def check(request: Request, principal: Principal, rule: Rule) -> None:
    """403 when the request names case data outside the caller's area."""
    if rule.scope is not Reach.STATION:
        return
    if principal.role not in AREA_ROLES and not (
        principal.role is Role.ALLIANCE_REVIEWER and principal.adcode
    ):
        return  # coordinators and region-less reviewers: role only (see the module docstring)
    area = principal.adcode
    station = request.query_params.get("station")
    if station is not None and not within(station, area):
        raise outside_scope(f"station {station}")
    named = {
        k: v
        for k, v in request.path_params.items()
        if k in ("household_id", "person_id", "need_id", "referral_id")
    }
    named |= await _named_in_body(request)
    if request.url.path == "/households" and request.method == "POST":
        adcode = await _body_adcode(request)
        if adcode is not None and not within(adcode, area):
            raise outside_scope(f"adcode {adcode}")
    if not named:
        return

    def adcodes(session: Session) -> dict[str, str | None]:
        return {kind: _adcode(session, kind, key) for kind, key in named.items()}

    for kind, adcode in (await run_read(request.app.state.sessions, adcodes)).items():
        if adcode is not None and not within(adcode, area):
            raise outside_scope(f"this {kind.removesuffix('_id')}")


async def _body_adcode(request: Request) -> str | None:
    try:
        body: Any = await request.json()
    except ValueError:
        return None
    adcode = body.get("adcode") if isinstance(body, dict) else None
    return adcode if isinstance(adcode, str) else None

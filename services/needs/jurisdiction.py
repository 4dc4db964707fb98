"""Jurisdiction in the needs service: who sees and changes which record, beyond their role.

- Case side (social workers, station leads, the county hub): case data only within the caller's
  area — a station's adcode prefix, the county's for the hub. The record a request names (in
  its path, or the household or need in its body) is looked up and its household adcode
  compared: one outside the area is answered 404, exactly as an unknown id (a 403 would tell
  that it exists); lists are filtered by `area_of`. Social workers and station leads also record the
  answer (accept, decline) of a resource without an organization — an individual volunteer,
  whom they phone — for referrals in their area; a resource with an organization answers
  through its coordinator only (403, rule `organization`).
- Coordinators: referrals to resources of their own organization only. A referral records its
  resource's organization (`resource_organization`, asked of the resources service when it is
  made); a referral naming another organization, or none (made before that was recorded), is a
  404, as an unknown one. Their list is filtered by `organization_of`; a micro-wish is claimed
  only with their own organization's resource (checked in `referrals.flows`). A coordinator
  token without an organization is refused, naming the missing scope.
- Alliance reviewers: referrals their department reviews (named in `review_departments`), and
  within their region (others: 404, as unknown). A reviewer's region is their token's adcode;
  a reviewer without one reviews for their department in the deployment's county
  (`LIANJIE_NEEDS_COUNTY_ADCODE`), never in other counties. With no county configured either,
  a region-less reviewer is refused (403, rule `region_required`), as is a reviewer without a
  department (naming the missing scope).
- Admins: everything.
"""

from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs.discovery.models import VerificationTask
from services.needs.models import Household, Need, Person
from services.needs.procedures.models import Procedure
from services.needs.referrals.models import Referral
from shared import divisions
from shared.access import Reach, Rule, outside_scope, principal_of, well_formed_adcode, within
from shared.auth import Principal, Role
from shared.db import run_read
from shared.errors import Forbidden, unknown

AREA_ROLES = {Role.SOCIAL_WORKER, Role.STATION_LEAD, Role.COUNTY_HUB}
# What an id names, as the route's own 404 says it (`shared.errors.unknown`): both must match.
KINDS = {"task_id": "verification task"}


def area_of(request: Request) -> str | None:
    """The adcode prefix lists are filtered by; None for a caller who sees every area."""
    principal = principal_of(request.scope)
    if principal is None or principal.role is Role.ADMIN:
        return None
    return principal.adcode or "-"  # no adcode: an area that matches nothing


def organization_of(request: Request) -> str | None:
    """The organization a coordinator's lists and claims are limited to; None for the others."""
    principal = principal_of(request.scope)
    if principal is None or principal.role is not Role.COORDINATOR:
        return None
    if not principal.organization:
        raise missing_scope("organization", principal.role)
    return principal.organization


def missing_scope(what: str, role: Role) -> Forbidden:
    """The 403 for a token that lacks the scope its role is limited by (rule
    `organization_required` or `department_required`, saying what the account lacks)."""
    return Forbidden(
        f"your sign-in names no {what}: a {role.value} acts only within their own {what}",
        extra={"rule": f"{what}_required", "missing": what},
    )


def reviewer_region(request: Request, principal: Principal) -> str:
    """The area a reviewer reviews in: their token's region, else the deployment's county;
    403 (rule `region_required`) when there is neither."""
    if principal.adcode:
        return principal.adcode
    county: str | None = request.app.state.settings.county_adcode
    if county:
        return county
    raise Forbidden(
        "your account names no region and this deployment sets no county "
        "(LIANJIE_NEEDS_COUNTY_ADCODE): a reviewer reviews within one region only",
        extra={"rule": "region_required", "missing": "region"},
    )


def review_scope(
    request: Request, department: str | None, region: str | None
) -> tuple[str | None, str | None]:
    """The department and region of the review queue a caller may look at: their own (403 for
    another's). A reviewer without a region sees their department's queue in the county."""
    principal = principal_of(request.scope)
    if principal is None or principal.role is Role.ADMIN:
        return department, region
    area = principal.adcode
    if principal.role is Role.ALLIANCE_REVIEWER:
        if not principal.department:
            raise missing_scope("department", principal.role)
        if department is not None and department != principal.department:
            raise outside_scope("this department")
        department = principal.department
        area = reviewer_region(request, principal)
    if not area:
        return department, "-"  # an area role without an area sees nothing
    if region is not None and well_formed_adcode(region) and not within(region, area):
        raise outside_scope("this region")
    return department, region or area


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
    if kind == "procedure_id":
        return session.scalar(select(Procedure.adcode).where(Procedure.id == key))
    if kind == "task_id":
        return session.scalar(select(VerificationTask.adcode).where(VerificationTask.id == key))
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
        k: v
        for k, v in body.items()
        if k in ("household_id", "need_id", "person_id") and isinstance(v, str)
    }


async def check(request: Request, principal: Principal, rule: Rule) -> None:
    """404 when the request names a record (by id) outside the caller's scope, exactly as for an
    id that names nothing, so an answer never tells that a record exists; 403 for an area, a
    department or a region outside it (see the module doc)."""
    if rule.scope in (Reach.NONE, Reach.ANY, Reach.SELF):
        return
    if principal.role is Role.COORDINATOR:
        await _check_organization(request, principal)
    elif principal.role is Role.ALLIANCE_REVIEWER:
        await _check_review(request, principal)
    elif principal.role in AREA_ROLES and rule.scope in (Reach.STATION, Reach.ANSWER):
        await _check_area(request, principal)
        if rule.scope is Reach.ANSWER:
            await _check_answers_on_behalf(request)


async def _check_answers_on_behalf(request: Request) -> None:
    """The case side answers for a resource only when it has no organization to answer."""
    referral = await _named_referral(request)
    if referral is not None and referral.resource_organization:
        raise Forbidden(
            "the referred resource has an organization: its coordinator answers for it",
            extra={"rule": "organization"},
        )


async def _check_area(request: Request, principal: Principal) -> None:
    area = principal.adcode
    station = request.query_params.get("station")
    if station is not None and well_formed_adcode(station) and not within(station, area):
        raise outside_scope("this station")
    named = {
        k: v
        for k, v in request.path_params.items()
        if k in ("household_id", "person_id", "need_id", "referral_id", "task_id", "procedure_id")
    }
    named |= await _named_in_body(request)
    if request.url.path == "/households" and request.method == "POST":
        adcode = await _body_adcode(request)
        # A household's adcode is a whole division code: a malformed one is the route's 422.
        if adcode is not None and divisions.is_well_formed(adcode) and not within(adcode, area):
            raise outside_scope("this adcode")
    if not named:
        return

    def adcodes(session: Session) -> dict[str, str | None]:
        return {kind: _adcode(session, kind, key) for kind, key in named.items()}

    for kind, adcode in (await run_read(request.app.state.sessions, adcodes)).items():
        if adcode is not None and not within(adcode, area):
            raise unknown(KINDS.get(kind, kind.removesuffix("_id")))


async def _named_referral(request: Request) -> Referral | None:
    """The referral the path names, if it names one that exists."""
    referral_id = request.path_params.get("referral_id")
    if not isinstance(referral_id, str):
        return None
    sessions = request.app.state.sessions
    return await run_read(sessions, lambda s: s.get(Referral, referral_id))


async def _check_organization(request: Request, principal: Principal) -> None:
    if not principal.organization:
        raise missing_scope("organization", principal.role)
    referral = await _named_referral(request)
    if referral is not None and referral.resource_organization != principal.organization:
        raise unknown("referral")


async def _check_review(request: Request, principal: Principal) -> None:
    if not principal.department:
        raise missing_scope("department", principal.role)
    region = reviewer_region(request, principal)
    referral = await _named_referral(request)
    if referral is None:
        return
    if principal.department not in (referral.review_departments or []):
        raise unknown("referral")
    if not within(referral.adcode, region):
        raise unknown("referral")


async def _body_adcode(request: Request) -> str | None:
    try:
        body: Any = await request.json()
    except ValueError:
        return None
    adcode = body.get("adcode") if isinstance(body, dict) else None
    return adcode if isinstance(adcode, str) else None

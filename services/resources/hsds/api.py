"""The HSDS read API, as Open Referral's API reference lays it out, so other directories and
2-1-1 style tools can read the county's library: `GET /hsds/services` (paged list), one
service, organizations and service_at_locations. Public fields only: phones and contact
persons are always masked here (no purpose is asked, nothing is logged); drafts (not complete
yet) are left out. Who may read: as `GET /resources` (any signed-in role)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session, sessionmaker

from services.resources import service
from services.resources.hsds import documents, exporting, mapping
from shared.db import run_read
from shared.errors import NotFound

router = APIRouter(prefix="/hsds", tags=["hsds"])
Page = Annotated[int, Query(ge=1, le=2**31 - 1, description="Page number, from 1")]
PerPage = Annotated[int, Query(ge=1, le=200, description="Items per page")]
Json = dict[str, Any]


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions  # type: ignore[no-any-return]


def _published(session: Session) -> list[Json]:
    """Every complete resource as a masked HSDS service (the library's public face)."""
    resources, _ = service.get_all(session=session, where=service.ListFilter(), limit=10**9)
    complete = [r for r in resources if not r.draft]
    return exporting.services(complete, unmasked=set())


def _paged(items: list[Json], page: int, per_page: int) -> Json:
    start = (page - 1) * per_page
    return documents.page(
        items[start : start + per_page], total=len(items), number=page, size=per_page
    )


async def _read(request: Request, work: Any) -> Any:
    return await run_read(_sessions(request), lambda s: work(_published(s)))


@router.get("/services")
async def list_services(request: Request, page: Page = 1, per_page: PerPage = 50) -> Json:
    """Services, one page (HSDS list shape: `contents` with the paging fields)."""
    return await _read(request, lambda found: _paged(found, page, per_page))  # type: ignore[no-any-return]


@router.get("/services/{service_id}")
async def get_service(service_id: str, request: Request) -> Json:
    """One service, compiled (its organization, locations, schedules, … inside)."""
    wanted = {service_id, mapping.resource_id_of(service_id)}

    def pick(found: list[Json]) -> Json:
        for item in found:
            if item.get("id") in wanted:
                return item
        raise NotFound(f"no service with id {service_id}")

    return await _read(request, pick)  # type: ignore[no-any-return]


def _organizations(found: list[Json]) -> list[Json]:
    organizations: dict[str, Json] = {}
    for item in found:
        organization = item.get("organization")
        if isinstance(organization, dict) and organization.get("id"):
            organizations.setdefault(organization["id"], organization)
    return list(organizations.values())


@router.get("/organizations")
async def list_organizations(request: Request, page: Page = 1, per_page: PerPage = 50) -> Json:
    """Organizations of the services, one page."""
    return await _read(request, lambda found: _paged(_organizations(found), page, per_page))  # type: ignore[no-any-return]


@router.get("/organizations/{organization_id}")
async def get_organization(organization_id: str, request: Request) -> Json:
    """One organization."""

    def pick(found: list[Json]) -> Json:
        for organization in _organizations(found):
            if organization["id"] == organization_id:
                return organization
        raise NotFound(f"no organization with id {organization_id}")

    return await _read(request, pick)  # type: ignore[no-any-return]


def _service_at_locations(found: list[Json]) -> list[Json]:
    return [
        {**link, "service_id": item["id"]}
        for item in found
        for link in item.get("service_at_locations") or []
    ]


@router.get("/service_at_locations")
async def list_service_at_locations(
    request: Request, page: Page = 1, per_page: PerPage = 50
) -> Json:
    """Where each service is given (its location inside), one page."""
    return await _read(request, lambda found: _paged(_service_at_locations(found), page, per_page))  # type: ignore[no-any-return]

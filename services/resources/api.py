"""HTTP routes of the resources service: parse, call the service, shape the response."""

import asyncio
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status
from sqlalchemy.orm import Session

from services.resources import capacity, importing, privacy, scheduled, service
from services.resources.hsds import api as hsds_api
from services.resources.importing import FileFormat, ImportReport, ImportRow
from services.resources.models import Resource
from services.resources.schemas import (
    ContactAccessOut,
    ResourceCreate,
    ResourceOut,
    ResourcePage,
    ResourcePatch,
)
from shared import access_log, messages
from shared.access_log import check_log_reader
from shared.actor import Actor, actor_from_request
from shared.contracts.common import SubjectToken
from shared.contracts.resources import CapacityReply, CapacityRequest
from shared.contracts.vocabulary import CategoryCode, KindCode
from shared.errors import ValidationFailed
from shared.web import IfMatch, Page, expected_version, pages
from shared.web_db import read, write

router = APIRouter(tags=["resources"], lifespan=scheduled.lifespan)
# FastAPI tries a request against the routes in the order they were added (twice: once to find
# the router, once inside it), and the paths here do not overlap: the busiest route comes first
# (a reservation was matched against every route of the service, a third of its HTTP CPU), the
# HSDS routes, a router of their own, last (see the end of this module).

ResourceId = Annotated[SubjectToken, Path(description="The resource's id")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {
    "csv": "text/csv",
    "xlsx": XLSX,
    "hsds-json": "application/json",
    "hsds-zip": "application/zip",
}
FILE_NAMES = {
    "csv": "resources.csv",
    "xlsx": "resources.xlsx",
    "hsds-json": "hsds.json",
    "hsds-zip": "hsds.zip",
}


_page = pages(
    lambda request: request.app.state.settings.page_size_max,
    default=50,
    cap_name="LIANJIE_RESOURCES_PAGE_SIZE_MAX",
)


def _shown(resource: Resource, *, unmasked: bool = False) -> ResourceOut:
    """The resource as an answer shows it: its contact masked unless `unmasked`."""
    shown = privacy.shown(resource, unmasked=unmasked)
    return ResourceOut.model_validate(resource).model_copy(update={"masked": not unmasked, **shown})


def _out(resource: Resource, response: Response, *, unmasked: bool = False) -> ResourceOut:
    out = _shown(resource, unmasked=unmasked)
    response.headers["ETag"] = f'"{out.version}"'
    return out


_purpose = access_log.purpose_dependency(privacy.Purpose, "Why you need the contact in full")


@router.post("/capacity/{operation}", response_model=CapacityReply, tags=["capacity"])
async def change_capacity(
    operation: Literal["reserve", "release", "consume"], body: CapacityRequest, request: Request
) -> CapacityReply:
    """The HTTP mirror of `lianjie.resources.capacity.<operation>.v1`."""
    if operation == "reserve":  # in the same batches as over NATS (`capacity_batch`)
        reply: CapacityReply = await request.app.state.reservations.submit(body)
        return reply
    return await write(
        request,
        lambda s: capacity.apply_capacity(session=s, operation=operation, request=body),
    )


@router.post("/resources", status_code=status.HTTP_201_CREATED, response_model=ResourceOut)
async def create_resource(
    body: ResourceCreate, request: Request, response: Response
) -> ResourceOut:
    """Register a resource; the matcher hears of it over NATS. A likely duplicate is added
    with `duplicate_of` set, for a coordinator to review (GET /resources/duplicates)."""
    out = await write(request, lambda s: _out(service.create(session=s, data=body), response))
    response.headers["Location"] = f"/resources/{out.id}"
    return out


@router.get("/resources", response_model=ResourcePage)
async def list_resources(
    request: Request,
    kind: Annotated[KindCode | None, Query(description="A kind's code or Chinese label")] = None,
    organization: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Only this organization's (exactly)"),
    ] = None,
    category: Annotated[
        CategoryCode | None, Query(description="Code or Chinese label; includes sub-categories")
    ] = None,
    adcode: Annotated[
        str | None, Query(pattern=r"^\d{2,12}$", description="Prefix of a served adcode")
    ] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    within_km: Annotated[float | None, Query(gt=0, le=5000)] = None,
    has_capacity: bool | None = None,
    active: bool | None = None,
    flagged: Annotated[bool | None, Query(description="Flagged as a possible duplicate")] = None,
    draft: Annotated[
        bool | None, Query(description="Read from another directory, to complete (草稿)")
    ] = None,
    capacity_flagged: Annotated[
        bool | None, Query(description="Declined a referral for no capacity: correct the total")
    ] = None,
    page: Page = Depends(_page),
) -> ResourcePage:
    """Resources that match every filter given; nearest first when lat/lon are given."""
    if (lat is None) != (lon is None):
        missing = "lon" if lon is None else "lat"
        raise ValidationFailed.one(missing, "missing", "give lat and lon together")
    if within_km is not None and lat is None:
        raise ValidationFailed.one("lat", "missing", "within_km needs lat and lon")
    where = service.ListFilter(
        kind=kind.value if kind else None,
        organization=organization,
        category=category,
        adcode=adcode,
        near=(lat, lon) if lat is not None and lon is not None else None,
        within_km=within_km,
        has_capacity=has_capacity,
        active=active,
        flagged=flagged,
        draft=draft,
        capacity_flagged=capacity_flagged,
    )
    return await _list(request, where, page)


@router.get("/resources/duplicates", response_model=ResourcePage)
async def list_duplicates(request: Request, page: Page = Depends(_page)) -> ResourcePage:
    """Resources flagged as possibly registered twice (see `duplicate_of`), for review."""
    return await _list(request, service.ListFilter(flagged=True), page)


async def _list(request: Request, where: service.ListFilter, page: Page) -> ResourcePage:
    """One page of the resources `where` selects, contacts masked."""

    def work(s: Session) -> ResourcePage:
        rows, total = service.get_all(session=s, where=where, limit=page.limit, offset=page.offset)
        items = [_shown(r) for r in rows]
        return ResourcePage(items=items, total=total, limit=page.limit, offset=page.offset)

    return await read(request, work)


@router.get("/resources/export")
async def export_resources(
    request: Request,
    format: FileFormat = "hsds-json",
    purpose: privacy.Purpose | None = Depends(_purpose),
    actor: Actor = Depends(actor_from_request),
) -> Response:
    """Every resource as our CSV template, HSDS 3.1 JSON, or a zipped HSDS data package.
    Contacts are masked; with a purpose, in full (a coordinator: their organization's) and
    logged. Importing a masked file back keeps the contacts it did not show."""
    unmasked = purpose is not None and privacy.may_unmask(actor=actor, purpose=purpose)
    content = await write(
        request,
        lambda s: importing.export(
            session=s, file_format=format, actor=actor, purpose=purpose if unmasked else None
        ),
    )
    disposition = f'attachment; filename="{FILE_NAMES[format]}"'
    return Response(
        content, media_type=MEDIA_TYPES[format], headers={"Content-Disposition": disposition}
    )


@router.post("/resources/import", response_model=ImportReport)
async def import_file(request: Request, format: FileFormat | None = None) -> ImportReport:
    """Import a file sent as the request body (CSV, HSDS JSON or zipped HSDS package; the
    format is detected when not given). A bad row writes nothing and the others are kept;
    a coordinator's file with any row of another organization is refused whole (403 naming
    the rows)."""
    rows = importing.read_rows(await request.body(), format)
    return await _import(request, rows)


@router.post("/resources/import/rows", response_model=ImportReport)
async def import_rows(
    rows: Annotated[list[ImportRow], Body(max_length=1000)], request: Request
) -> ImportReport:
    """Import rows already read from a file (what `lianjie resources import` sends)."""
    return await _import(request, rows)


async def _import(request: Request, rows: list[ImportRow]) -> ImportReport:
    actor = actor_from_request(request)
    report = await asyncio.to_thread(
        lambda: importing.import_rows(sessions=request.app.state.sessions, rows=rows, actor=actor)
    )
    return _in_language(report, request)


def _in_language(report: ImportReport, request: Request) -> ImportReport:
    """Each row's messages in the language the request prefers, as problem+json's are."""
    lang = messages.language(request.headers.get("accept-language"))
    for row in report.rows:
        for error in row.errors:
            error.message = messages.message(error.rule, lang, error.message)
    return report


@router.get("/resources/{resource_id}", response_model=ResourceOut)
async def get_resource(
    resource_id: ResourceId,
    request: Request,
    response: Response,
    purpose: privacy.Purpose | None = Depends(_purpose),
    actor: Actor = Depends(actor_from_request),
) -> ResourceOut:
    """A resource; its contact in full only with a purpose (the read is logged)."""
    if purpose is None or not privacy.may_unmask(actor=actor, purpose=purpose):
        return await read(
            request,
            lambda s: _out(service.get_or_raise(session=s, resource_id=resource_id), response),
        )

    def work(s: Session) -> ResourceOut:
        resource = service.get_or_raise(session=s, resource_id=resource_id)
        privacy.check_reaches(actor, resource)
        privacy.record_access(session=s, actor=actor, purpose=purpose, resources=[resource])
        return _out(resource, response, unmasked=True)

    return await write(request, work)


@router.get("/access-log", response_model=list[ContactAccessOut])
async def get_access_log(
    request: Request,
    resource_id: SubjectToken | None = Query(None, max_length=36),
    actor_id: str | None = Query(None, max_length=64),
    since: datetime | None = Query(None, description="Reads at or after this time"),
    limit: int = Query(100, ge=1, le=1000),
    actor: Actor = Depends(actor_from_request),
) -> list[ContactAccessOut]:
    """Every unmasked read of a resource's contact, newest first: for the county hub's review."""
    check_log_reader(actor)
    return await read(
        request,
        lambda s: [
            ContactAccessOut.model_validate(row)
            for row in privacy.get_access_log(
                session=s, resource_id=resource_id, actor_id=actor_id, since=since, limit=limit
            )
        ],
    )


async def _change(
    request: Request,
    response: Response,
    if_match: str | None,
    change: Callable[..., Resource],
) -> ResourceOut:
    """Run `change(session=…, expected_version=…)`, the version the If-Match names, in one
    transaction, and answer with the resource it leaves."""
    expected = expected_version(if_match)
    return await write(
        request,
        lambda s: _out(change(session=s, expected_version=expected), response),
    )


@router.put("/resources/{resource_id}", response_model=ResourceOut)
async def replace_resource(
    resource_id: ResourceId,
    body: ResourceCreate,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> ResourceOut:
    """Replace a resource; with If-Match, a stale version is refused with 412."""
    change = partial(service.update, resource_id=resource_id, data=body)
    return await _change(request, response, if_match, change)


@router.patch("/resources/{resource_id}", response_model=ResourceOut)
async def patch_resource(
    resource_id: ResourceId,
    body: ResourcePatch,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> ResourceOut:
    """Change some fields; with If-Match, a stale version is refused with 412."""
    change = partial(service.patch, resource_id=resource_id, changes=body)
    return await _change(request, response, if_match, change)


@router.post("/resources/{resource_id}/deactivate", response_model=ResourceOut)
async def deactivate_resource(
    resource_id: ResourceId, request: Request, response: Response, if_match: IfMatch = None
) -> ResourceOut:
    """Take a resource out of matching (the matcher drops it)."""
    change = partial(service.deactivate, resource_id=resource_id)
    return await _change(request, response, if_match, change)


@router.post("/resources/{resource_id}/activate", response_model=ResourceOut)
async def activate_resource(
    resource_id: ResourceId, request: Request, response: Response, if_match: IfMatch = None
) -> ResourceOut:
    """Bring a deactivated resource back into matching."""
    change = partial(service.activate, resource_id=resource_id)
    return await _change(request, response, if_match, change)


@router.post("/resources/{resource_id}/duplicate/dismiss", response_model=ResourceOut)
async def dismiss_duplicate(
    resource_id: ResourceId, request: Request, response: Response
) -> ResourceOut:
    """A coordinator found the flagged resource is a different organization: clear the flag."""
    return await write(
        request,
        lambda s: _out(service.dismiss_duplicate(session=s, resource_id=resource_id), response),
    )


router.include_router(hsds_api.router)  # last: see the top of this module

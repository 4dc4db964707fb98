"""HTTP routes of the resources service: parse, call the service, shape the response."""

import asyncio
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from sqlalchemy.orm import Session, sessionmaker

from services.resources import capacity, importing, service
from services.resources.importing import FileFormat, ImportReport, ImportRow
from services.resources.models import Resource
from services.resources.schemas import ResourceCreate, ResourceOut, ResourcePage, ResourcePatch
from shared import taxonomy
from shared.contracts.resources import CapacityReply, CapacityRequest, ResourceKind
from shared.db import run_in_transaction, run_read
from shared.errors import PreconditionFailed, ValidationFailed

router = APIRouter(tags=["resources"])

IfMatch = Annotated[str | None, Header(description='The ETag you read, e.g. "3"')]
MAX_OFFSET = 2**31 - 1  # a larger offset overflows the database's integer (a 500, not a 422)
MEDIA_TYPES = {"csv": "text/csv", "hsds-json": "application/json", "hsds-zip": "application/zip"}
FILE_NAMES = {"csv": "resources.csv", "hsds-json": "hsds.json", "hsds-zip": "hsds.zip"}


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions  # type: ignore[no-any-return]


def _out(resource: Resource, response: Response) -> ResourceOut:
    out = ResourceOut.model_validate(resource)
    response.headers["ETag"] = f'"{out.version}"'
    return out


def _expected_version(if_match: str | None) -> int | None:
    """The version an If-Match names; None for no header or `*`."""
    if if_match is None or if_match.strip() == "*":
        return None
    found = re.fullmatch(r'\s*(?:W/)?"?(\d+)"?\s*', if_match)
    if found is None:
        raise PreconditionFailed(f"If-Match {if_match!r} is not an ETag of this service")
    return int(found.group(1))


@router.post("/resources", status_code=status.HTTP_201_CREATED, response_model=ResourceOut)
async def create_resource(
    body: ResourceCreate, request: Request, response: Response
) -> ResourceOut:
    """Register a resource; the matcher hears of it over NATS. A likely duplicate is added
    with `duplicate_of` set, for a coordinator to review (GET /resources/duplicates)."""
    out = await run_in_transaction(
        _sessions(request), lambda s: _out(service.create(session=s, data=body), response)
    )
    response.headers["Location"] = f"/resources/{out.id}"
    return out


@router.get("/resources", response_model=ResourcePage)
async def list_resources(
    request: Request,
    kind: ResourceKind | None = None,
    category: Annotated[str | None, Query(description="Includes its sub-categories")] = None,
    adcode: Annotated[
        str | None, Query(pattern=r"^\d{2,12}$", description="Prefix of a served adcode")
    ] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    within_km: Annotated[float | None, Query(gt=0, le=5000)] = None,
    has_capacity: bool | None = None,
    active: bool | None = None,
    flagged: Annotated[bool | None, Query(description="Flagged as a possible duplicate")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ResourcePage:
    """Resources that match every filter given; nearest first when lat/lon are given."""
    if category is not None and not taxonomy.is_known(category):
        raise ValidationFailed.one(
            "category", "unknown_category", f"'{category}' is not a category of the taxonomy"
        )
    if (lat is None) != (lon is None):
        missing = "lon" if lon is None else "lat"
        raise ValidationFailed.one(missing, "missing", "give lat and lon together")
    if within_km is not None and lat is None:
        raise ValidationFailed.one("lat", "missing", "within_km needs lat and lon")
    where = service.ListFilter(
        kind=kind.value if kind else None,
        category=category,
        adcode=adcode,
        near=(lat, lon) if lat is not None and lon is not None else None,
        within_km=within_km,
        has_capacity=has_capacity,
        active=active,
        flagged=flagged,
    )
    limit = min(limit, request.app.state.settings.page_size_max)

    def work(s: Session) -> ResourcePage:
        rows, total = service.get_all(session=s, where=where, limit=limit, offset=offset)
        items = [ResourceOut.model_validate(r) for r in rows]
        return ResourcePage(items=items, total=total, limit=limit, offset=offset)

    return await run_read(_sessions(request), work)


@router.get("/resources/duplicates", response_model=ResourcePage)
async def list_duplicates(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ResourcePage:
    """Resources flagged as possibly registered twice (see `duplicate_of`), for review."""
    where = service.ListFilter(flagged=True)

    def work(s: Session) -> ResourcePage:
        rows, total = service.get_all(session=s, where=where, limit=limit, offset=offset)
        items = [ResourceOut.model_validate(r) for r in rows]
        return ResourcePage(items=items, total=total, limit=limit, offset=offset)

    return await run_read(_sessions(request), work)


@router.get("/resources/export")
async def export_resources(request: Request, format: FileFormat = "hsds-json") -> Response:
    """Every resource as our CSV template, HSDS 3.1 JSON, or a zipped HSDS data package."""
    content = await run_read(
        _sessions(request), lambda s: importing.export(session=s, file_format=format)
    )
    disposition = f'attachment; filename="{FILE_NAMES[format]}"'
    return Response(
        content, media_type=MEDIA_TYPES[format], headers={"Content-Disposition": disposition}
    )


@router.post("/resources/import", response_model=ImportReport)
async def import_file(request: Request, format: FileFormat | None = None) -> ImportReport:
    """Import a file sent as the request body (CSV, HSDS JSON or zipped HSDS package; the
    format is detected when not given). Each row is its own transaction."""
    rows = importing.read_rows(await request.body(), format)
    return await _import(request, rows)


@router.post("/resources/import/rows", response_model=ImportReport)
async def import_rows(
    rows: Annotated[list[ImportRow], Body(max_length=1000)], request: Request
) -> ImportReport:
    """Import rows already read from a file (what `lianjie resources import` sends)."""
    return await _import(request, rows)


async def _import(request: Request, rows: list[ImportRow]) -> ImportReport:
    return await asyncio.to_thread(
        lambda: importing.import_rows(sessions=_sessions(request), rows=rows)
    )


@router.get("/resources/{resource_id}", response_model=ResourceOut)
async def get_resource(resource_id: str, request: Request, response: Response) -> ResourceOut:
    return await run_read(
        _sessions(request),
        lambda s: _out(service.get_or_raise(session=s, resource_id=resource_id), response),
    )


@router.put("/resources/{resource_id}", response_model=ResourceOut)
async def replace_resource(
    resource_id: str,
    body: ResourceCreate,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> ResourceOut:
    """Replace a resource; with If-Match, a stale version is refused with 412."""
    expected = _expected_version(if_match)
    return await run_in_transaction(
        _sessions(request),
        lambda s: _out(
            service.update(
                session=s, resource_id=resource_id, data=body, expected_version=expected
            ),
            response,
        ),
    )


@router.patch("/resources/{resource_id}", response_model=ResourceOut)
async def patch_resource(
    resource_id: str,
    body: ResourcePatch,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> ResourceOut:
    """Change some fields; with If-Match, a stale version is refused with 412."""
    expected = _expected_version(if_match)
    return await run_in_transaction(
        _sessions(request),
        lambda s: _out(
            service.patch(
                session=s, resource_id=resource_id, changes=body, expected_version=expected
            ),
            response,
        ),
    )


@router.post("/resources/{resource_id}/deactivate", response_model=ResourceOut)
async def deactivate_resource(
    resource_id: str, request: Request, response: Response, if_match: IfMatch = None
) -> ResourceOut:
    """Take a resource out of matching (the matcher drops it)."""
    expected = _expected_version(if_match)
    return await run_in_transaction(
        _sessions(request),
        lambda s: _out(
            service.deactivate(session=s, resource_id=resource_id, expected_version=expected),
            response,
        ),
    )


@router.post("/resources/{resource_id}/activate", response_model=ResourceOut)
async def activate_resource(
    resource_id: str, request: Request, response: Response, if_match: IfMatch = None
) -> ResourceOut:
    """Bring a deactivated resource back into matching."""
    expected = _expected_version(if_match)
    return await run_in_transaction(
        _sessions(request),
        lambda s: _out(
            service.activate(session=s, resource_id=resource_id, expected_version=expected),
            response,
        ),
    )


@router.post("/resources/{resource_id}/duplicate/dismiss", response_model=ResourceOut)
async def dismiss_duplicate(resource_id: str, request: Request, response: Response) -> ResourceOut:
    """A coordinator found the flagged resource is a different organization: clear the flag."""
    return await run_in_transaction(
        _sessions(request),
        lambda s: _out(service.dismiss_duplicate(session=s, resource_id=resource_id), response),
    )


@router.post("/capacity/{operation}", response_model=CapacityReply, tags=["capacity"])
async def change_capacity(
    operation: Literal["reserve", "release", "consume"], body: CapacityRequest, request: Request
) -> CapacityReply:
    """The HTTP mirror of `lianjie.resources.capacity.<operation>.v1`."""
    return await run_in_transaction(
        _sessions(request),
        lambda s: capacity.apply_capacity(session=s, operation=operation, request=body),
    )

"""HTTP routes of the resources service: parse, call the service, shape the response."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.orm import Session, sessionmaker

from services.resources import service
from services.resources.schemas import ResourceCreate, ResourceOut, ResourcePage
from shared.contracts.resources import CapacityReply, CapacityRequest, ResourceKind
from shared.db import run_in_transaction, run_read

router = APIRouter(tags=["resources"])


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions  # type: ignore[no-any-return]


def _etag(resource: ResourceOut) -> str:
    return f'"{resource.version}"'


@router.post("/resources", status_code=status.HTTP_201_CREATED, response_model=ResourceOut)
async def create_resource(
    body: ResourceCreate, request: Request, response: Response
) -> ResourceOut:
    """Register a resource; the matcher hears of it over NATS."""
    out = await run_in_transaction(
        _sessions(request),
        lambda s: ResourceOut.model_validate(service.create(session=s, data=body)),
    )
    response.headers["ETag"] = _etag(out)
    response.headers["Location"] = f"/resources/{out.id}"
    return out


@router.get("/resources/{resource_id}", response_model=ResourceOut)
async def get_resource(resource_id: str, request: Request, response: Response) -> ResourceOut:
    out = await run_read(
        _sessions(request),
        lambda s: ResourceOut.model_validate(
            service.get_or_raise(session=s, resource_id=resource_id)
        ),
    )
    response.headers["ETag"] = _etag(out)
    return out


@router.get("/resources", response_model=ResourcePage)
async def list_resources(
    request: Request,
    kind: ResourceKind | None = None,
    category: str | None = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ResourcePage:
    def work(s: Session) -> ResourcePage:
        rows, total = service.get_all(
            session=s,
            kind=kind.value if kind else None,
            category=category,
            active=active,
            limit=limit,
            offset=offset,
        )
        items = [ResourceOut.model_validate(r) for r in rows]
        return ResourcePage(items=items, total=total, limit=limit, offset=offset)

    return await run_read(_sessions(request), work)


@router.post("/resources/{resource_id}/deactivate", response_model=ResourceOut)
async def deactivate_resource(resource_id: str, request: Request) -> ResourceOut:
    return await run_in_transaction(
        _sessions(request),
        lambda s: ResourceOut.model_validate(
            service.deactivate(session=s, resource_id=resource_id)
        ),
    )


@router.post("/capacity/{operation}", response_model=CapacityReply, tags=["capacity"])
async def change_capacity(
    operation: Literal["reserve", "release", "consume"], body: CapacityRequest, request: Request
) -> CapacityReply:
    """The HTTP mirror of `lianjie.resources.capacity.<operation>.v1`."""
    return await run_in_transaction(
        _sessions(request),
        lambda s: service.apply_capacity(session=s, operation=operation, request=body),
    )

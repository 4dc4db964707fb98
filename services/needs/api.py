"""HTTP routes of the needs service: parse, call the service, shape the response."""

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from services.needs import (
    jurisdiction,
    ledger_import,
    ledger_jobs,
    queries,
    scheduled,
    service,
    stats,
)
from services.needs.aid.api import router as aid_router
from services.needs.cases.api import router as cases_router
from services.needs.dependencies import (
    STATION,
    case_filter,
    edit_history,
    paging,
    set_etag,
    settings_of,
    visit_rule,
)
from services.needs.discovery.api import router as discovery_router
from services.needs.enums import HouseholdSort, NeedSort
from services.needs.events import ask_matcher
from services.needs.models import Need
from services.needs.procedures.api import router as procedures_router
from services.needs.referrals import queries as referral_queries
from services.needs.referrals.api import router as referrals_router
from services.needs.schemas import (
    CaseFilters,
    CaseSearch,
    HouseholdCreate,
    HouseholdOut,
    HouseholdPatch,
    ImportJobOut,
    Listing,
    MatchesOut,
    MatchRequest,
    NeedCreate,
    NeedOut,
    NeedStatusChangeOut,
    NeedTransition,
    NeedUpdate,
    RecordChangeOut,
    StatsOut,
)
from services.needs.states import NeedStatus
from services.needs.users.api import router as users_router
from services.needs.wishes.api import router as wishes_router
from shared.actor import Actor, actor_from_request, stamp
from shared.clock import today_of
from shared.contracts.matcher import RankRequest
from shared.contracts.vocabulary import CategoryCode
from shared.errors import ValidationFailed
from shared.web import IfMatch, Page, expected_version
from shared.web_db import read, write

router = APIRouter(lifespan=scheduled.lifespan)
router.include_router(users_router)
router.include_router(referrals_router)
router.include_router(discovery_router)
router.include_router(procedures_router)
router.include_router(aid_router)
router.include_router(wishes_router)
router.include_router(cases_router)  # after the others: /persons/{person_id} catches all

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _change_need(
    request: Request, need_id: str, change: Callable[[Session, Need], Need]
) -> NeedOut:
    """Apply `change` to one need in a transaction; answer with the need."""
    return await write(
        request,
        lambda s: NeedOut.model_validate(
            change(s, service.get_need_or_raise(session=s, need_id=need_id))
        ),
    )


@router.post(
    "/households",
    status_code=status.HTTP_201_CREATED,
    response_model=HouseholdOut,
    tags=["households"],
)
async def create_household(
    body: HouseholdCreate,
    request: Request,
    response: Response,
    actor: Actor = Depends(actor_from_request),
) -> HouseholdOut:
    """Open a household file (一户一档): its adcode, however it is found, and its station
    must lie in the caller's area; `social_worker` is the caller unless a station lead names
    another."""
    body = body.model_copy(
        update={"social_worker": stamp("social_worker", body.social_worker, actor)}
    )
    area = jurisdiction.area_of(request)
    out = await write(
        request,
        lambda s: HouseholdOut.model_validate(
            service.create_household(session=s, data=body, area=area)
        ),
    )
    response.headers["Location"] = f"/households/{out.id}"
    set_etag(response, out.version)
    return out


async def _household_list(
    request: Request, where: queries.CaseFilter, sort: HouseholdSort, page: Page
) -> Listing[HouseholdOut]:
    rule = visit_rule(request)

    def work(s: Session) -> Listing[HouseholdOut]:
        rows, total = queries.households(
            session=s, where=where, rule=rule, sort=sort, limit=page.limit, offset=page.offset
        )
        items = [HouseholdOut.model_validate(h) for h in rows]
        return Listing(items=items, total=total, limit=page.limit, offset=page.offset)

    return await read(request, work)


@router.get("/households", response_model=Listing[HouseholdOut], tags=["households"])
async def list_households(
    request: Request,
    filters: Annotated[CaseFilters, Query()],
    sort: HouseholdSort = Query(HouseholdSort.NEWEST),
    page: Page = Depends(paging),
) -> Listing[HouseholdOut]:
    """Households of the caller's area, filtered, sorted and paged; `total` counts every match.
    A filter on persons (group, tier, case status, visit) keeps a household when one of its
    persons meets them all."""
    return await _household_list(request, case_filter(request, filters), sort, page)


@router.post("/households/search", response_model=Listing[HouseholdOut], tags=["households"])
async def search_households(
    body: CaseSearch,
    request: Request,
    sort: HouseholdSort = Query(HouseholdSort.NEWEST),
    page: Page = Depends(paging),
) -> Listing[HouseholdOut]:
    """The households of the person with this exact ID number or name (and the filters)."""
    return await _household_list(request, case_filter(request, body), sort, page)


@router.get("/households/{household_id}", response_model=HouseholdOut, tags=["households"])
async def get_household(household_id: str, request: Request, response: Response) -> HouseholdOut:
    out = await read(
        request,
        lambda s: HouseholdOut.model_validate(
            service.get_household_or_raise(session=s, household_id=household_id)
        ),
    )
    set_etag(response, out.version)
    return out


@router.patch("/households/{household_id}", response_model=HouseholdOut, tags=["households"])
async def update_household(
    household_id: str,
    body: HouseholdPatch,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
    actor: Actor = Depends(actor_from_request),
) -> HouseholdOut:
    """Correct a household file: address and location, hardship types, station, worker in
    charge. With If-Match, a stale version is 412; the new place is checked against the
    caller's area; the edit is kept in the history (field names, who, when)."""
    if "social_worker" in body.model_fields_set:
        body = body.model_copy(
            update={"social_worker": stamp("social_worker", body.social_worker, actor)}
        )
    expected, area = expected_version(if_match), jurisdiction.area_of(request)
    out = await write(
        request,
        lambda s: HouseholdOut.model_validate(
            service.update_household(
                session=s,
                household_id=household_id,
                data=body,
                actor=actor,
                area=area,
                expected_version=expected,
            )
        ),
    )
    set_etag(response, out.version)
    return out


@router.post(
    "/households/import",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportJobOut,
    tags=["households"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def import_households(
    request: Request,
    response: Response,
    file_name: str = Query("ledger", max_length=200, description="Shown in the job"),
    actor: Actor = Depends(actor_from_request),
) -> ImportJobOut:
    """Import a station's ledger (台账): the file itself is the body (CSV in UTF-8 or GBK, or
    XLSX; docs/ledger-import.md). Answers 202 with the job; poll `Location` for progress and,
    once done, each row's outcome. Every household must lie in the caller's area."""
    try:
        ledger = ledger_import.read_ledger_bytes(await request.body())
    except ledger_import.LedgerFormatError as exc:
        raise ValidationFailed.one("file", "ledger_format", str(exc)) from None
    area = jurisdiction.area_of(request)
    job = await asyncio.to_thread(
        ledger_jobs.start,
        sessions=request.app.state.sessions,
        ledger=ledger,
        file_name=file_name,
        actor=actor,
        area=area,
    )
    ledger_jobs.run_in_background(
        request.app.state, job_id=job.id, ledger=ledger, actor=actor, area=area
    )
    response.headers["Location"] = f"/households/imports/{job.id}"
    return ImportJobOut.model_validate(job)


@router.get("/households/imports/{job_id}", response_model=ImportJobOut, tags=["households"])
async def get_import(
    job_id: str, request: Request, actor: Actor = Depends(actor_from_request)
) -> ImportJobOut:
    """A ledger import's progress (`processed` of `total`) and, once done, its rows."""
    return await read(
        request,
        lambda s: ImportJobOut.model_validate(
            ledger_jobs.get(session=s, job_id=job_id, actor=actor)
        ),
    )


@router.get(
    "/households/{household_id}/history",
    response_model=Listing[RecordChangeOut],
    tags=["households"],
)
async def get_household_history(
    household_id: str, request: Request, page: Page = Depends(paging)
) -> Listing[RecordChangeOut]:
    """The household file's edits, oldest first: which fields, who, when (no values)."""
    return await edit_history(request, "household", household_id, page)


@router.post("/needs", status_code=status.HTTP_201_CREATED, response_model=NeedOut, tags=["needs"])
async def create_need(
    body: NeedCreate,
    request: Request,
    response: Response,
    actor: Actor = Depends(actor_from_request),
) -> NeedOut:
    """Record a need for a household or person."""
    out = await write(
        request,
        lambda s: NeedOut.model_validate(service.create_need(session=s, data=body, actor=actor.id)),
    )
    response.headers["Location"] = f"/needs/{out.id}"
    return out


@router.get("/needs", response_model=Listing[NeedOut], tags=["needs"])
async def list_needs(
    request: Request,
    station: str | None = Query(None, pattern=r"^\d{2,12}$", description="Adcode prefix"),
    status: NeedStatus | None = Query(None),
    open_only: bool = Query(False, alias="open", description="Only needs not yet closed"),
    category: CategoryCode | None = Query(None, description="A category or its parent"),
    household_id: str | None = Query(None, max_length=36),
    person_id: str | None = Query(None, max_length=36),
    min_urgency: int | None = Query(None, ge=1, le=5),
    sort: NeedSort = Query(NeedSort.NEWEST),
    page: Page = Depends(paging),
) -> Listing[NeedOut]:
    """Needs of the caller's area, filtered, sorted and paged; `total` counts every match."""
    where = queries.NeedFilter(
        area=jurisdiction.area_of(request),
        station=station,
        status=status.value if status else None,
        open_only=open_only,
        category=category,
        household_id=household_id,
        person_id=person_id,
        min_urgency=min_urgency,
    )

    def work(s: Session) -> Listing[NeedOut]:
        rows, total = queries.needs(
            session=s, where=where, sort=sort, limit=page.limit, offset=page.offset
        )
        items = [NeedOut.model_validate(n) for n in rows]
        return Listing(items=items, total=total, limit=page.limit, offset=page.offset)

    return await read(request, work)


@router.get("/needs/{need_id}", response_model=NeedOut, tags=["needs"])
async def get_need(need_id: str, request: Request) -> NeedOut:
    return await read(
        request,
        lambda s: NeedOut.model_validate(service.get_need_or_raise(session=s, need_id=need_id)),
    )


@router.patch("/needs/{need_id}", response_model=NeedOut, tags=["needs"])
async def update_need(
    need_id: str, body: NeedUpdate, request: Request, actor: Actor = Depends(actor_from_request)
) -> NeedOut:
    """Change an open need's description, urgency, quantity, unit or needed-by date."""
    return await _change_need(
        request,
        need_id,
        lambda s, n: service.update_need(session=s, need=n, data=body, actor=actor.id),
    )


@router.post("/needs/{need_id}/status", response_model=NeedOut, tags=["needs"])
async def transition_need(
    need_id: str,
    body: NeedTransition,
    request: Request,
    actor: Actor = Depends(actor_from_request),
) -> NeedOut:
    """Move a need to another status; 409 names the statuses it may go to."""
    return await _change_need(
        request,
        need_id,
        lambda s, n: service.set_need_status(
            session=s, need=n, status=body.status, actor=actor.id, reason=body.reason
        ),
    )


@router.get("/needs/{need_id}/history", response_model=list[NeedStatusChangeOut], tags=["needs"])
async def get_need_history(
    need_id: str, request: Request, page: Page = Depends(paging)
) -> list[NeedStatusChangeOut]:
    """A need's status changes, oldest first."""
    return await read(
        request,
        lambda s: [
            NeedStatusChangeOut.model_validate(c)
            for c in service.get_need_history(
                session=s, need_id=need_id, limit=page.limit, offset=page.offset
            )
        ],
    )


@router.post("/needs/{need_id}/matches", response_model=MatchesOut, tags=["needs"])
async def match_need(
    need_id: str,
    request: Request,
    body: MatchRequest | None = None,
    actor: Actor = Depends(actor_from_request),
) -> MatchesOut:
    """Ask the matcher for ranked, explained resources; an open need moves to matching."""
    settings = settings_of(request)

    def ask_for(s: Session) -> RankRequest:
        # A resource that declined this need (for no capacity, say) is not offered again.
        asked = body or MatchRequest()
        declined = referral_queries.declined_resources(session=s, need_id=need_id)
        asked = asked.model_copy(update={"exclude": [*asked.exclude, *declined]})
        return service.match_request(
            session=s, need_id=need_id, request=asked, default_k=settings.matches_default_k
        )

    ask = await read(request, ask_for)
    reply = await ask_matcher(request.app.state.bus, ask)
    need = await write(
        request,
        lambda s: service.mark_matching(session=s, need_id=need_id, actor=actor.id),
    )
    return MatchesOut(
        need_id=need_id,
        status=need.status,
        results=reply.results,
        candidates_considered=reply.candidates_considered,
    )


@router.get("/stats", response_model=StatsOut, tags=["stats"])
async def get_stats(
    request: Request,
    station: str = STATION,
    since: date | None = Query(None, description="Start of the period; default 1 January"),
    until: date | None = Query(None, description="End of the period (inclusive); default today"),
) -> StatsOut:
    """The station's figures as the seeds report them."""
    today = today_of(request.app)
    return await read(
        request,
        lambda s: stats.station_stats(
            session=s,
            station=station,
            since=since or date(today.year, 1, 1),
            until=until or today,
        ),
    )

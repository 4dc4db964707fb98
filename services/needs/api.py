"""HTTP routes of the needs service: parse, call the service, shape the response."""

import asyncio
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from services.needs import (
    jurisdiction,
    ledger_import,
    ledger_jobs,
    privacy,
    queries,
    service,
    stats,
)
from services.needs.aid.api import router as aid_router
from services.needs.cases import service as persons
from services.needs.cases import visits
from services.needs.discovery.api import router as discovery_router
from services.needs.enums import HouseholdSort, NeedSort, PersonSort
from services.needs.events import ask_matcher
from services.needs.models import Need, Person
from services.needs.procedures.api import router as procedures_router
from services.needs.referrals import service as referrals_service
from services.needs.referrals.api import router as referrals_router
from services.needs.schemas import (
    CaseFilters,
    CaseSearch,
    CaseTransition,
    ConsentIn,
    ConsentWithdrawalIn,
    ConsentWithdrawalOut,
    ConsentWithdrawn,
    DueVisitsOut,
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
    PersonCreate,
    PersonOut,
    PersonPatch,
    PiiAccessOut,
    RecordChangeOut,
    StatsOut,
    TierChange,
    VisitCreate,
    VisitOut,
    VisitRecorded,
)
from services.needs.settings import NeedsSettings
from services.needs.states import NeedStatus
from services.needs.users.api import router as users_router
from shared import access_log
from shared.access_log import check_log_reader
from shared.actor import Actor, actor_from_request, stamp
from shared.contracts.matcher import RankRequest
from shared.contracts.vocabulary import CategoryCode
from shared.errors import ValidationFailed
from shared.web import IfMatch, Page, expected_version, pages, read, write

router = APIRouter()
router.include_router(users_router)
router.include_router(referrals_router)
router.include_router(discovery_router)
router.include_router(procedures_router)
router.include_router(aid_router)

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATION = Query(pattern=r"^\d{2,12}$", description="Station adcode or a prefix (county: 6 digits)")


def _settings(request: Request) -> NeedsSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


_page = pages(
    lambda request: _settings(request).page_size_max,
    default=100,
    cap_name="LIANJIE_NEEDS_PAGE_SIZE_MAX",
)


def _person_out(person: Person, settings: NeedsSettings, *, unmasked: bool = False) -> PersonOut:
    due = visits.next_visit_due(person=person, follow_up_days=settings.tier_follow_up_days)
    shown = privacy.shown(person, unmasked=unmasked)
    return PersonOut.model_validate(person).model_copy(
        update={"next_visit_due": due, "masked": not unmasked, **shown}
    )


async def _people(
    request: Request,
    *,
    actor: Actor,
    purpose: privacy.Purpose | None,
    find: Callable[[Session], list[Person]],
) -> list[PersonOut]:
    """Persons as answers show them: masked, or in full for a purpose (the read is logged)."""
    unmasked = privacy.may_unmask(actor=actor, purpose=purpose)
    settings = _settings(request)

    def work(s: Session) -> list[PersonOut]:
        found = find(s)
        if purpose is not None and unmasked:
            privacy.record_access(session=s, actor=actor, purpose=purpose, people=found)
        return [_person_out(p, settings, unmasked=unmasked) for p in found]

    return await (write if unmasked else read)(request, work)


async def _change_person(
    request: Request, person_id: str, change: Callable[[Session, Person], Person]
) -> PersonOut:
    """Apply `change` to one case in a transaction; answer with the case (masked)."""
    settings = _settings(request)
    return await write(
        request,
        lambda s: _person_out(
            change(s, persons.get_person_or_raise(session=s, person_id=person_id)), settings
        ),
    )


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


_purpose = access_log.purpose_dependency(
    privacy.Purpose, "Why full ID numbers and phones are needed"
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
    _etag(response, out.version)
    return out


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


def _case_filter(request: Request, filters: CaseFilters) -> queries.CaseFilter:
    """The filter of a list: the caller's area, then what they asked for."""
    fields = filters.model_dump(exclude_none=True)
    return queries.CaseFilter(area=jurisdiction.area_of(request), **fields)


def _visit_rule(request: Request) -> queries.VisitRule:
    settings = _settings(request)
    return queries.VisitRule(date.today(), settings.due_window_days, settings.tier_follow_up_days)


async def _household_list(
    request: Request, where: queries.CaseFilter, sort: HouseholdSort, page: Page
) -> Listing[HouseholdOut]:
    rule = _visit_rule(request)

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
    page: Page = Depends(_page),
) -> Listing[HouseholdOut]:
    """Households of the caller's area, filtered, sorted and paged; `total` counts every match.
    A filter on persons (group, tier, case status, visit) keeps a household when one of its
    persons meets them all."""
    return await _household_list(request, _case_filter(request, filters), sort, page)


@router.post("/households/search", response_model=Listing[HouseholdOut], tags=["households"])
async def search_households(
    body: CaseSearch,
    request: Request,
    sort: HouseholdSort = Query(HouseholdSort.NEWEST),
    page: Page = Depends(_page),
) -> Listing[HouseholdOut]:
    """The households of the person with this exact ID number or name (and the filters)."""
    return await _household_list(request, _case_filter(request, body), sort, page)


@router.get("/households/{household_id}", response_model=HouseholdOut, tags=["households"])
async def get_household(household_id: str, request: Request, response: Response) -> HouseholdOut:
    out = await read(
        request,
        lambda s: HouseholdOut.model_validate(
            service.get_household_or_raise(session=s, household_id=household_id)
        ),
    )
    _etag(response, out.version)
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
    _etag(response, out.version)
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


async def _history(
    request: Request, record_type: str, record_id: str, page: Page
) -> Listing[RecordChangeOut]:
    def work(s: Session) -> Listing[RecordChangeOut]:
        if record_type == "household":
            service.get_household_or_raise(session=s, household_id=record_id)
        else:
            persons.get_person_or_raise(session=s, person_id=record_id)
        rows, total = queries.history(
            session=s,
            record_type=record_type,
            record_id=record_id,
            limit=page.limit,
            offset=page.offset,
        )
        items = [RecordChangeOut.model_validate(c) for c in rows]
        return Listing(items=items, total=total, limit=page.limit, offset=page.offset)

    return await read(request, work)


@router.get(
    "/households/{household_id}/history",
    response_model=Listing[RecordChangeOut],
    tags=["households"],
)
async def get_household_history(
    household_id: str, request: Request, page: Page = Depends(_page)
) -> Listing[RecordChangeOut]:
    """The household file's edits, oldest first: which fields, who, when (no values)."""
    return await _history(request, "household", household_id, page)


@router.post(
    "/households/{household_id}/persons",
    status_code=status.HTTP_201_CREATED,
    response_model=PersonOut,
    tags=["persons"],
)
async def create_person(
    household_id: str,
    body: PersonCreate,
    request: Request,
    response: Response,
    actor: Actor = Depends(actor_from_request),
) -> PersonOut:
    """Add a person to a household file: their case (一人一案) starts as applied."""
    settings = _settings(request)
    if body.consent is not None:
        body = body.model_copy(update={"consent": _stamped_consent(body.consent, actor)})
    out = await write(
        request,
        lambda s: _person_out(
            persons.create_person(session=s, household_id=household_id, data=body, actor=actor.id),
            settings,
        ),
    )
    response.headers["Location"] = f"/persons/{out.id}"
    return out


@router.get("/households/{household_id}/persons", response_model=list[PersonOut], tags=["persons"])
async def get_household_persons(
    household_id: str,
    request: Request,
    purpose: privacy.Purpose | None = Depends(_purpose),
    page: Page = Depends(_page),
    actor: Actor = Depends(actor_from_request),
) -> list[PersonOut]:
    """The household's persons, head first; ID numbers and phones in full only with a purpose
    (logged)."""
    return await _people(
        request,
        actor=actor,
        purpose=purpose,
        find=lambda s: persons.get_household_persons(
            session=s, household_id=household_id, limit=page.limit, offset=page.offset
        ),
    )


def _stamped_consent(consent: ConsentIn, actor: Actor) -> ConsentIn:
    recorded_by = stamp("recorded_by", consent.recorded_by, actor)
    return consent.model_copy(update={"recorded_by": recorded_by})


async def _person_list(
    request: Request,
    where: queries.CaseFilter,
    sort: PersonSort,
    page: Page,
    actor: Actor,
    purpose: privacy.Purpose | None,
) -> Listing[PersonOut]:
    rule = _visit_rule(request)
    total = 0

    def find(s: Session) -> list[Person]:
        nonlocal total
        rows, total = queries.persons(
            session=s, where=where, rule=rule, sort=sort, limit=page.limit, offset=page.offset
        )
        return rows

    items = await _people(request, actor=actor, purpose=purpose, find=find)
    return Listing(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/persons", response_model=Listing[PersonOut], tags=["persons"])
async def list_persons(
    request: Request,
    filters: Annotated[CaseFilters, Query()],
    sort: PersonSort = Query(PersonSort.NEWEST),
    purpose: privacy.Purpose | None = Depends(_purpose),
    page: Page = Depends(_page),
    actor: Actor = Depends(actor_from_request),
) -> Listing[PersonOut]:
    """Cases of the caller's area, filtered, sorted and paged (masked unless a purpose unmasks
    them, logged); `total` counts every match."""
    where = _case_filter(request, filters)
    return await _person_list(request, where, sort, page, actor, purpose)


@router.post("/persons/search", response_model=Listing[PersonOut], tags=["persons"])
async def search_persons(
    body: CaseSearch,
    request: Request,
    sort: PersonSort = Query(PersonSort.NEWEST),
    purpose: privacy.Purpose | None = Depends(_purpose),
    page: Page = Depends(_page),
    actor: Actor = Depends(actor_from_request),
) -> Listing[PersonOut]:
    """Find a resident by exact ID number or exact name (blind index: nothing is decrypted to
    search), within the caller's area and the filters given."""
    where = _case_filter(request, body)
    return await _person_list(request, where, sort, page, actor, purpose)


@router.get("/persons/{person_id}", response_model=PersonOut, tags=["persons"])
async def get_person(
    person_id: str,
    request: Request,
    response: Response,
    purpose: privacy.Purpose | None = Depends(_purpose),
    actor: Actor = Depends(actor_from_request),
) -> PersonOut:
    """A case; its ID number and phone in full only with a purpose (the read is logged)."""
    [out] = await _people(
        request,
        actor=actor,
        purpose=purpose,
        find=lambda s: [persons.get_person_or_raise(session=s, person_id=person_id)],
    )
    _etag(response, out.version)
    return out


@router.patch("/persons/{person_id}", response_model=PersonOut, tags=["persons"])
async def update_person(
    person_id: str,
    body: PersonPatch,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
    actor: Actor = Depends(actor_from_request),
) -> PersonOut:
    """Correct a person: name, ID number, phone, groups, disability grade, head of household,
    or move them to another household (a member leaving one, joining another). With If-Match,
    a stale version is 412; the edit is kept in the history (field names, who, when)."""
    settings, expected = _settings(request), expected_version(if_match)
    out = await write(
        request,
        lambda s: _person_out(
            persons.update_person(
                session=s,
                person_id=person_id,
                data=body,
                actor=actor,
                expected_version=expected,
            ),
            settings,
        ),
    )
    _etag(response, out.version)
    return out


@router.get(
    "/persons/{person_id}/history", response_model=Listing[RecordChangeOut], tags=["persons"]
)
async def get_person_history(
    person_id: str, request: Request, page: Page = Depends(_page)
) -> Listing[RecordChangeOut]:
    """The person's edits, oldest first: which fields, who, when (no values)."""
    return await _history(request, "person", person_id, page)


@router.get("/access-log", response_model=list[PiiAccessOut], tags=["persons"])
async def get_access_log(
    request: Request,
    person_id: str | None = Query(None, max_length=36),
    actor_id: str | None = Query(None, max_length=64),
    since: datetime | None = Query(None, description="Reads at or after this time"),
    page: Page = Depends(_page),
    actor: Actor = Depends(actor_from_request),
) -> list[PiiAccessOut]:
    """Every unmasked read of personal data, newest first: for the county hub's review."""
    check_log_reader(actor)
    return await read(
        request,
        lambda s: [
            PiiAccessOut.model_validate(row)
            for row in privacy.get_access_log(
                session=s,
                person_id=person_id,
                actor_id=actor_id,
                since=since,
                limit=page.limit,
                offset=page.offset,
            )
        ],
    )


@router.put("/persons/{person_id}/consent", response_model=PersonOut, tags=["persons"])
async def record_consent(
    person_id: str, body: ConsentIn, request: Request, actor: Actor = Depends(actor_from_request)
) -> PersonOut:
    """Record the person's informed consent (知情同意)."""
    return await _change_person(
        request,
        person_id,
        lambda s, p: persons.record_consent(
            session=s, person=p, consent=_stamped_consent(body, actor), actor=actor.id
        ),
    )


@router.post(
    "/persons/{person_id}/consent/withdrawal",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsentWithdrawn,
    tags=["persons"],
)
async def withdraw_consent(
    person_id: str,
    body: ConsentWithdrawalIn,
    request: Request,
    actor: Actor = Depends(actor_from_request),
) -> ConsentWithdrawn:
    """The person withdraws consent (撤回同意), all of it or the scopes named: `sensitive`
    erases health and disability data, `case_file` exits the case; matches and referrals stop.
    What was done before stays lawful (PIPL art. 15)."""
    settings = _settings(request)

    def work(s: Session) -> ConsentWithdrawn:
        person = persons.get_person_or_raise(session=s, person_id=person_id)
        withdrawal = persons.withdraw_consent(session=s, person=person, data=body, actor=actor)
        return ConsentWithdrawn(
            withdrawal=ConsentWithdrawalOut.model_validate(withdrawal),
            person=_person_out(person, settings),
        )

    return await write(request, work)


@router.post("/persons/{person_id}/status", response_model=PersonOut, tags=["persons"])
async def transition_case(
    person_id: str,
    body: CaseTransition,
    request: Request,
    actor: Actor = Depends(actor_from_request),
) -> PersonOut:
    """Move the case: applied → active → exited (with a reason); exited → applied again."""
    return await _change_person(
        request,
        person_id,
        lambda s, p: persons.transition_case(
            session=s, person=p, status=body.status, exit_reason=body.exit_reason, actor=actor.id
        ),
    )


@router.put("/persons/{person_id}/tier", response_model=PersonOut, tags=["persons"])
async def change_tier(
    person_id: str, body: TierChange, request: Request, actor: Actor = Depends(actor_from_request)
) -> PersonOut:
    """Set the case's service tier (1 = most intensive)."""
    return await _change_person(
        request,
        person_id,
        lambda s, p: persons.change_tier(session=s, person=p, tier=body.tier, actor=actor.id),
    )


@router.post(
    "/persons/{person_id}/visits",
    status_code=status.HTTP_201_CREATED,
    response_model=VisitRecorded,
    tags=["visits"],
)
async def record_visit(
    person_id: str,
    body: VisitCreate,
    request: Request,
    actor: Actor = Depends(actor_from_request),
) -> VisitRecorded:
    """Record a home visit (入户探访); the answer says when the next one is due. The visitor
    is the caller unless a station lead records another worker's visit."""
    follow_up_days = _settings(request).tier_follow_up_days
    body = body.model_copy(
        update={"social_worker": stamp("social_worker", body.social_worker, actor)}
    )

    checklist = _settings(request).observation_checklist

    def work(s: Session) -> VisitRecorded:
        person = persons.get_person_or_raise(session=s, person_id=person_id)
        visit = visits.record_visit(
            session=s, person=person, data=body, actor=actor.id, checklist=checklist
        )
        due = visits.next_visit_due(person=person, follow_up_days=follow_up_days)
        return VisitRecorded(visit=VisitOut.model_validate(visit), next_visit_due=due)

    return await write(request, work)


@router.get("/persons/{person_id}/visits", response_model=list[VisitOut], tags=["visits"])
async def get_person_visits(
    person_id: str, request: Request, page: Page = Depends(_page)
) -> list[VisitOut]:
    """A case's visits, latest first."""

    def work(s: Session) -> list[VisitOut]:
        persons.get_person_or_raise(session=s, person_id=person_id)
        found = visits.get_person_visits(
            session=s, person_id=person_id, limit=page.limit, offset=page.offset
        )
        return [VisitOut.model_validate(v) for v in found]

    return await read(request, work)


@router.get("/visits/due", response_model=DueVisitsOut, tags=["visits"])
async def get_due_visits(
    request: Request,
    station: str = STATION,
    within_days: int | None = Query(None, ge=0, le=366, description="Look this far ahead"),
    page: Page = Depends(_page),
) -> DueVisitsOut:
    """A station's overdue visits and those due within `within_days`, soonest first; the
    counts are of all of them, `visits` one page."""
    settings = _settings(request)
    days = settings.due_window_days if within_days is None else within_days
    today = date.today()
    due = await read(
        request,
        lambda s: visits.get_due(
            session=s,
            station=station,
            as_of=today,
            within_days=days,
            follow_up_days=settings.tier_follow_up_days,
        ),
    )
    overdue = sum(1 for d in due if d.overdue)
    return DueVisitsOut(
        station=station,
        as_of=today,
        within_days=days,
        overdue=overdue,
        upcoming=len(due) - overdue,
        total=len(due),
        limit=page.limit,
        offset=page.offset,
        visits=due[page.offset : page.offset + page.limit],
    )


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
    page: Page = Depends(_page),
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
    need_id: str, request: Request, page: Page = Depends(_page)
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
    settings = _settings(request)

    def ask_for(s: Session) -> RankRequest:
        # A resource that declined this need (for no capacity, say) is not offered again.
        asked = body or MatchRequest()
        declined = referrals_service.declined_resources(session=s, need_id=need_id)
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
    today = date.today()
    return await read(
        request,
        lambda s: stats.station_stats(
            session=s,
            station=station,
            since=since or date(today.year, 1, 1),
            until=until or today,
        ),
    )

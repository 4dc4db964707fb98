"""HTTP routes of the needs service: parse, call the service, shape the response."""

from collections.abc import Callable
from datetime import date, datetime

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from services.needs import persons, privacy, service, stats, visits
from services.needs.aid.api import router as aid_router
from services.needs.discovery.api import router as discovery_router
from services.needs.events import ask_matcher
from services.needs.models import Need, Person
from services.needs.procedures.api import router as procedures_router
from services.needs.referrals.api import router as referrals_router
from services.needs.schemas import (
    CaseTransition,
    ConsentIn,
    ConsentWithdrawalIn,
    ConsentWithdrawalOut,
    ConsentWithdrawn,
    DueVisitsOut,
    HouseholdCreate,
    HouseholdOut,
    MatchesOut,
    MatchRequest,
    NeedCreate,
    NeedOut,
    NeedStatusChangeOut,
    NeedTransition,
    NeedUpdate,
    PersonCreate,
    PersonOut,
    PiiAccessOut,
    StatsOut,
    TierChange,
    VisitCreate,
    VisitOut,
    VisitRecorded,
)
from services.needs.settings import NeedsSettings
from services.needs.users.api import router as users_router
from shared import access_log
from shared.access_log import check_log_reader
from shared.actor import Actor, actor_from_request
from shared.web import Page, pages, read, write

router = APIRouter()
router.include_router(users_router)
router.include_router(referrals_router)
router.include_router(discovery_router)
router.include_router(procedures_router)
router.include_router(aid_router)

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
    body: HouseholdCreate, request: Request, response: Response
) -> HouseholdOut:
    """Open a household file (一户一档)."""
    out = await write(
        request,
        lambda s: HouseholdOut.model_validate(service.create_household(session=s, data=body)),
    )
    response.headers["Location"] = f"/households/{out.id}"
    return out


@router.get("/households/{household_id}", response_model=HouseholdOut, tags=["households"])
async def get_household(household_id: str, request: Request) -> HouseholdOut:
    return await read(
        request,
        lambda s: HouseholdOut.model_validate(
            service.get_household_or_raise(session=s, household_id=household_id)
        ),
    )


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


@router.get("/persons/{person_id}", response_model=PersonOut, tags=["persons"])
async def get_person(
    person_id: str,
    request: Request,
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
    return out


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
        lambda s, p: persons.record_consent(session=s, person=p, consent=body, actor=actor.id),
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
    """Record a home visit (入户探访); the answer says when the next one is due."""
    follow_up_days = _settings(request).tier_follow_up_days

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
    ask = await read(
        request,
        lambda s: service.match_request(
            session=s,
            need_id=need_id,
            request=body or MatchRequest(),
            default_k=settings.matches_default_k,
        ),
    )
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

"""HTTP routes of the needs service: parse, call the service, shape the response."""

from datetime import date, datetime

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session, sessionmaker

from services.needs import persons, privacy, service, stats, visits
from services.needs.events import ask_matcher
from services.needs.models import Person
from services.needs.referrals.api import router as referrals_router
from services.needs.schemas import (
    CaseTransition,
    ConsentIn,
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
from shared.actor import Actor, actor_from_request
from shared.db import run_in_transaction, run_read
from shared.errors import Forbidden

router = APIRouter()
router.include_router(users_router)
router.include_router(referrals_router)

STATION = Query(pattern=r"^\d{2,12}$", description="Station adcode or a prefix (county: 6 digits)")


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions  # type: ignore[no-any-return]


def _settings(request: Request) -> NeedsSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _person_out(person: Person, settings: NeedsSettings, *, unmasked: bool = False) -> PersonOut:
    due = visits.next_visit_due(person=person, follow_up_days=settings.tier_follow_up_days)
    shown = privacy.shown(person, unmasked=unmasked)
    return PersonOut.model_validate(person).model_copy(
        update={"next_visit_due": due, "masked": not unmasked, **shown}
    )


def _purpose(
    request: Request,
    purpose: str | None = Query(
        None,
        description="Why full ID numbers and phones are needed (home_visit, referral, "
        f"benefit_review, case_review); also the {privacy.PURPOSE_HEADER} header",
    ),
) -> privacy.Purpose | None:
    return privacy.purpose_or_none(purpose or request.headers.get(privacy.PURPOSE_HEADER))


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
    out = await run_in_transaction(
        _sessions(request),
        lambda s: HouseholdOut.model_validate(service.create_household(session=s, data=body)),
    )
    response.headers["Location"] = f"/households/{out.id}"
    return out


@router.get("/households/{household_id}", response_model=HouseholdOut, tags=["households"])
async def get_household(household_id: str, request: Request) -> HouseholdOut:
    return await run_read(
        _sessions(request),
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
    out = await run_in_transaction(
        _sessions(request),
        lambda s: _person_out(
            persons.create_person(session=s, household_id=household_id, data=body, actor=actor.id),
            _settings(request),
        ),
    )
    response.headers["Location"] = f"/persons/{out.id}"
    return out


@router.get("/households/{household_id}/persons", response_model=list[PersonOut], tags=["persons"])
async def get_household_persons(
    household_id: str,
    request: Request,
    purpose: privacy.Purpose | None = Depends(_purpose),
    actor: Actor = Depends(actor_from_request),
) -> list[PersonOut]:
    """The household's persons; ID numbers and phones in full only with a purpose (logged)."""
    unmasked = privacy.may_unmask(actor=actor, purpose=purpose)

    def work(s: Session) -> list[PersonOut]:
        found = persons.get_household_persons(session=s, household_id=household_id)
        if purpose is not None and unmasked:
            privacy.record_access(session=s, actor=actor, purpose=purpose, people=found)
        return [_person_out(p, _settings(request), unmasked=unmasked) for p in found]

    return await (run_in_transaction if unmasked else run_read)(_sessions(request), work)


@router.get("/persons/{person_id}", response_model=PersonOut, tags=["persons"])
async def get_person(
    person_id: str,
    request: Request,
    purpose: privacy.Purpose | None = Depends(_purpose),
    actor: Actor = Depends(actor_from_request),
) -> PersonOut:
    """A case; its ID number and phone in full only with a purpose (the read is logged)."""
    unmasked = privacy.may_unmask(actor=actor, purpose=purpose)

    def work(s: Session) -> PersonOut:
        person = persons.get_person_or_raise(session=s, person_id=person_id)
        if purpose is not None and unmasked:
            privacy.record_access(session=s, actor=actor, purpose=purpose, people=[person])
        return _person_out(person, _settings(request), unmasked=unmasked)

    return await (run_in_transaction if unmasked else run_read)(_sessions(request), work)


@router.get("/access-log", response_model=list[PiiAccessOut], tags=["persons"])
async def get_access_log(
    request: Request,
    person_id: str | None = Query(None, max_length=36),
    actor_id: str | None = Query(None, max_length=64),
    since: datetime | None = Query(None, description="Reads at or after this time"),
    limit: int = Query(100, ge=1, le=1000),
    actor: Actor = Depends(actor_from_request),
) -> list[PiiAccessOut]:
    """Every unmasked read of personal data, newest first: for the county hub's review."""
    if actor.role not in privacy.ACCESS_LOG_ROLES:
        raise Forbidden(
            f"role {actor.role} may not read the access log",
            extra={"rule": "role", "allowed": sorted(privacy.ACCESS_LOG_ROLES)},
        )
    return await run_read(
        _sessions(request),
        lambda s: [
            PiiAccessOut.model_validate(row)
            for row in privacy.get_access_log(
                session=s, person_id=person_id, actor_id=actor_id, since=since, limit=limit
            )
        ],
    )


@router.put("/persons/{person_id}/consent", response_model=PersonOut, tags=["persons"])
async def record_consent(
    person_id: str, body: ConsentIn, request: Request, actor: Actor = Depends(actor_from_request)
) -> PersonOut:
    """Record the person's informed consent (知情同意)."""
    return await run_in_transaction(
        _sessions(request),
        lambda s: _person_out(
            persons.record_consent(
                session=s,
                person=persons.get_person_or_raise(session=s, person_id=person_id),
                consent=body,
                actor=actor.id,
            ),
            _settings(request),
        ),
    )


@router.post("/persons/{person_id}/status", response_model=PersonOut, tags=["persons"])
async def transition_case(
    person_id: str,
    body: CaseTransition,
    request: Request,
    actor: Actor = Depends(actor_from_request),
) -> PersonOut:
    """Move the case: applied → active → exited (with a reason); exited → applied again."""
    return await run_in_transaction(
        _sessions(request),
        lambda s: _person_out(
            persons.transition_case(
                session=s,
                person=persons.get_person_or_raise(session=s, person_id=person_id),
                status=body.status,
                exit_reason=body.exit_reason,
                actor=actor.id,
            ),
            _settings(request),
        ),
    )


@router.put("/persons/{person_id}/tier", response_model=PersonOut, tags=["persons"])
async def change_tier(
    person_id: str, body: TierChange, request: Request, actor: Actor = Depends(actor_from_request)
) -> PersonOut:
    """Set the case's service tier (1 = most intensive)."""
    return await run_in_transaction(
        _sessions(request),
        lambda s: _person_out(
            persons.change_tier(
                session=s,
                person=persons.get_person_or_raise(session=s, person_id=person_id),
                tier=body.tier,
                actor=actor.id,
            ),
            _settings(request),
        ),
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

    def work(s: Session) -> VisitRecorded:
        person = persons.get_person_or_raise(session=s, person_id=person_id)
        visit = visits.record_visit(session=s, person=person, data=body, actor=actor.id)
        due = visits.next_visit_due(
            person=person, follow_up_days=_settings(request).tier_follow_up_days
        )
        return VisitRecorded(visit=VisitOut.model_validate(visit), next_visit_due=due)

    return await run_in_transaction(_sessions(request), work)


@router.get("/persons/{person_id}/visits", response_model=list[VisitOut], tags=["visits"])
async def get_person_visits(person_id: str, request: Request) -> list[VisitOut]:
    def work(s: Session) -> list[VisitOut]:
        persons.get_person_or_raise(session=s, person_id=person_id)
        return [
            VisitOut.model_validate(v)
            for v in visits.get_person_visits(session=s, person_id=person_id)
        ]

    return await run_read(_sessions(request), work)


@router.get("/visits/due", response_model=DueVisitsOut, tags=["visits"])
async def get_due_visits(
    request: Request,
    station: str = STATION,
    within_days: int | None = Query(None, ge=0, le=366, description="Look this far ahead"),
) -> DueVisitsOut:
    """A station's overdue visits and those due within `within_days`, soonest first."""
    settings = _settings(request)
    days = settings.due_window_days if within_days is None else within_days
    today = date.today()
    due = await run_read(
        _sessions(request),
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
        visits=due,
    )


@router.post("/needs", status_code=status.HTTP_201_CREATED, response_model=NeedOut, tags=["needs"])
async def create_need(
    body: NeedCreate,
    request: Request,
    response: Response,
    actor: Actor = Depends(actor_from_request),
) -> NeedOut:
    """Record a need for a household or person."""
    out = await run_in_transaction(
        _sessions(request),
        lambda s: NeedOut.model_validate(service.create_need(session=s, data=body, actor=actor.id)),
    )
    response.headers["Location"] = f"/needs/{out.id}"
    return out


@router.get("/needs/{need_id}", response_model=NeedOut, tags=["needs"])
async def get_need(need_id: str, request: Request) -> NeedOut:
    return await run_read(
        _sessions(request),
        lambda s: NeedOut.model_validate(service.get_need_or_raise(session=s, need_id=need_id)),
    )


@router.patch("/needs/{need_id}", response_model=NeedOut, tags=["needs"])
async def update_need(
    need_id: str, body: NeedUpdate, request: Request, actor: Actor = Depends(actor_from_request)
) -> NeedOut:
    """Change an open need's description, urgency, quantity, unit or needed-by date."""
    return await run_in_transaction(
        _sessions(request),
        lambda s: NeedOut.model_validate(
            service.update_need(
                session=s,
                need=service.get_need_or_raise(session=s, need_id=need_id),
                data=body,
                actor=actor.id,
            )
        ),
    )


@router.post("/needs/{need_id}/status", response_model=NeedOut, tags=["needs"])
async def transition_need(
    need_id: str,
    body: NeedTransition,
    request: Request,
    actor: Actor = Depends(actor_from_request),
) -> NeedOut:
    """Move a need to another status; 409 names the statuses it may go to."""
    return await run_in_transaction(
        _sessions(request),
        lambda s: NeedOut.model_validate(
            service.set_need_status(
                session=s,
                need=service.get_need_or_raise(session=s, need_id=need_id),
                status=body.status,
                actor=actor.id,
                reason=body.reason,
            )
        ),
    )


@router.get("/needs/{need_id}/history", response_model=list[NeedStatusChangeOut], tags=["needs"])
async def get_need_history(need_id: str, request: Request) -> list[NeedStatusChangeOut]:
    return await run_read(
        _sessions(request),
        lambda s: [
            NeedStatusChangeOut.model_validate(c)
            for c in service.get_need_history(session=s, need_id=need_id)
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
    ask = await run_read(
        _sessions(request),
        lambda s: service.match_request(
            session=s,
            need_id=need_id,
            request=body or MatchRequest(),
            default_k=settings.matches_default_k,
        ),
    )
    reply = await ask_matcher(request.app.state.bus, ask)
    need = await run_in_transaction(
        _sessions(request),
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
    return await run_read(
        _sessions(request),
        lambda s: stats.station_stats(
            session=s,
            station=station,
            since=since or date(today.year, 1, 1),
            until=until or today,
        ),
    )

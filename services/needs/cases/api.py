"""HTTP routes of person cases (一人一案): persons, their consent, case status and tier, home
visits and the log of unmasked reads. Parse, call the service, shape the answer."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from services.needs import privacy, queries
from services.needs.cases import service as persons
from services.needs.cases import visits
from services.needs.dependencies import (
    STATION,
    case_filter,
    edit_history,
    paging,
    set_etag,
    settings_of,
    unmask_purpose,
    visit_rule,
)
from services.needs.enums import PersonSort
from services.needs.models import Person
from services.needs.schemas import (
    CaseFilters,
    CaseSearch,
    CaseTransition,
    ConsentIn,
    ConsentWithdrawalIn,
    ConsentWithdrawalOut,
    ConsentWithdrawn,
    DueVisitsOut,
    Listing,
    PersonCreate,
    PersonOut,
    PersonPatch,
    PiiAccessOut,
    RecordChangeOut,
    TierChange,
    VisitCreate,
    VisitOut,
    VisitRecorded,
)
from services.needs.settings import NeedsSettings
from shared.access_log import check_log_reader
from shared.actor import Actor, actor_from_request, stamp
from shared.clock import today_of
from shared.web import IfMatch, Page, expected_version
from shared.web_db import read, write

router = APIRouter()


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
    settings = settings_of(request)

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
    settings = settings_of(request)
    return await write(
        request,
        lambda s: _person_out(
            change(s, persons.get_person_or_raise(session=s, person_id=person_id)), settings
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
    settings = settings_of(request)
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
    purpose: privacy.Purpose | None = Depends(unmask_purpose),
    page: Page = Depends(paging),
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
    rule = visit_rule(request)
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
    purpose: privacy.Purpose | None = Depends(unmask_purpose),
    page: Page = Depends(paging),
    actor: Actor = Depends(actor_from_request),
) -> Listing[PersonOut]:
    """Cases of the caller's area, filtered, sorted and paged (masked unless a purpose unmasks
    them, logged); `total` counts every match."""
    where = case_filter(request, filters)
    return await _person_list(request, where, sort, page, actor, purpose)


@router.post("/persons/search", response_model=Listing[PersonOut], tags=["persons"])
async def search_persons(
    body: CaseSearch,
    request: Request,
    sort: PersonSort = Query(PersonSort.NEWEST),
    purpose: privacy.Purpose | None = Depends(unmask_purpose),
    page: Page = Depends(paging),
    actor: Actor = Depends(actor_from_request),
) -> Listing[PersonOut]:
    """Find a resident by exact ID number or exact name (blind index: nothing is decrypted to
    search), within the caller's area and the filters given."""
    where = case_filter(request, body)
    return await _person_list(request, where, sort, page, actor, purpose)


@router.get("/persons/{person_id}", response_model=PersonOut, tags=["persons"])
async def get_person(
    person_id: str,
    request: Request,
    response: Response,
    purpose: privacy.Purpose | None = Depends(unmask_purpose),
    actor: Actor = Depends(actor_from_request),
) -> PersonOut:
    """A case; its ID number and phone in full only with a purpose (the read is logged)."""
    [out] = await _people(
        request,
        actor=actor,
        purpose=purpose,
        find=lambda s: [persons.get_person_or_raise(session=s, person_id=person_id)],
    )
    set_etag(response, out.version)
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
    settings, expected = settings_of(request), expected_version(if_match)
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
    set_etag(response, out.version)
    return out


@router.get(
    "/persons/{person_id}/history", response_model=Listing[RecordChangeOut], tags=["persons"]
)
async def get_person_history(
    person_id: str, request: Request, page: Page = Depends(paging)
) -> Listing[RecordChangeOut]:
    """The person's edits, oldest first: which fields, who, when (no values)."""
    return await edit_history(request, "person", person_id, page)


@router.get("/access-log", response_model=list[PiiAccessOut], tags=["persons"])
async def get_access_log(
    request: Request,
    person_id: str | None = Query(None, max_length=36),
    actor_id: str | None = Query(None, max_length=64),
    since: datetime | None = Query(None, description="Reads at or after this time"),
    page: Page = Depends(paging),
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
    settings = settings_of(request)

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
    follow_up_days = settings_of(request).tier_follow_up_days
    body = body.model_copy(
        update={"social_worker": stamp("social_worker", body.social_worker, actor)}
    )

    checklist = settings_of(request).observation_checklist

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
    person_id: str, request: Request, page: Page = Depends(paging)
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
    page: Page = Depends(paging),
) -> DueVisitsOut:
    """A station's overdue visits and those due within `within_days`, soonest first; the
    counts are of all of them, `visits` one page."""
    settings = settings_of(request)
    days = settings.due_window_days if within_days is None else within_days
    today = today_of(request.app)
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

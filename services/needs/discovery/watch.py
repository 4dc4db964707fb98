"""Watch lists (动态监测): persons who left assistance, whose application was refused, or whom a
partner flagged, followed for a configured time after (post-exit monitoring).

Exits and refusals are read from the case and procedure records as they stand, so the list is
never out of step with them; only a partner's flag is a record of its own. A case that exited
because the person died, moved away, was transferred or withdrew consent is not followed.
"""

import uuid
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs.cases.states import CaseStatus
from services.needs.discovery.models import PartnerFlag
from services.needs.discovery.schemas import PartnerFlagCreate, Watched
from services.needs.enums import ExitReason
from services.needs.models import Household, Person
from services.needs.procedures.models import Procedure, ProcedureStep
from shared.contracts.common import china_date
from shared.errors import ValidationFailed

FOLLOWED_EXITS = (ExitReason.GOALS_MET, ExitReason.NO_LONGER_ELIGIBLE, ExitReason.DECLINED)


def flag(
    *, session: Session, data: PartnerFlagCreate, today: date, actor: str | None
) -> PartnerFlag:
    """Record a partner's flag on a person, followed for `days` days."""
    if session.get(Person, data.person_id) is None:
        raise ValidationFailed.one("person_id", "unknown", "no person with this id")
    record = PartnerFlag(
        id=str(uuid.uuid4()),
        person_id=data.person_id,
        partner=data.partner,
        note=data.note,
        since=today,
        until=today + timedelta(days=data.days),
        created_by=actor,
    )
    session.add(record)
    session.flush()
    return record


def watched(*, session: Session, today: date, days: int, area: str | None) -> list[Watched]:
    """Everyone followed on `today` in `area`, the most recent first."""
    since = today - timedelta(days=days)
    found = (
        _exited(session, since, days) + _refused(session, since, days) + _flagged(session, today)
    )
    if area is not None:
        found = [w for w in found if w.adcode.startswith(area)]
    return sorted(found, key=lambda w: (w.since, w.person_id), reverse=True)


def _exited(session: Session, since: date, days: int) -> list[Watched]:
    query = (
        select(Person, Household.adcode)
        .join(Household, Household.id == Person.household_id)
        .where(Person.case_status == CaseStatus.EXITED, Person.exit_reason.in_(FOLLOWED_EXITS))
    )
    out = []
    for person, adcode in session.execute(query).all():
        left = china_date(person.case_status_changed_at)
        if left >= since:
            out.append(_watched(person, adcode, "exited", person.exit_reason, left, days))
    return out


def _refused(session: Session, since: date, days: int) -> list[Watched]:
    query = (
        select(Person, Procedure, ProcedureStep)
        .join(Procedure, Procedure.person_id == Person.id)
        .join(ProcedureStep, ProcedureStep.procedure_id == Procedure.id)
        .where(ProcedureStep.outcome == "refused", ProcedureStep.done_on >= since)
    )
    return [
        _watched(person, procedure.adcode, "refused", procedure.kind, step.done_on, days)
        for person, procedure, step in session.execute(query).all()
        if step.done_on is not None
    ]


def _flagged(session: Session, today: date) -> list[Watched]:
    query = (
        select(PartnerFlag, Person, Household.adcode)
        .join(Person, Person.id == PartnerFlag.person_id)
        .join(Household, Household.id == Person.household_id)
        .where(PartnerFlag.since <= today, PartnerFlag.until >= today)
    )
    return [
        Watched(
            person_id=person.id,
            household_id=person.household_id,
            adcode=adcode,
            reason="partner_flag",
            detail=flag.partner,
            since=flag.since,
            until=flag.until,
        )
        for flag, person, adcode in session.execute(query).all()
    ]


def _watched(
    person: Person, adcode: str, reason: str, detail: str | None, since: date, days: int
) -> Watched:
    return Watched(
        person_id=person.id,
        household_id=person.household_id,
        adcode=adcode,
        reason=reason,  # type: ignore[arg-type]
        detail=detail,
        since=since,
        until=since + timedelta(days=days),
    )

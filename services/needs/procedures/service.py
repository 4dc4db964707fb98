"""Procedures as domain operations: start one, move its steps on their legal clocks, find and
escalate the steps past their limit."""

import uuid
from collections.abc import Mapping
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs.models import Household, OutboxEvent, Person
from services.needs.procedures.clocks import StepLimit, due
from services.needs.procedures.models import Procedure, ProcedureStep
from services.needs.procedures.schemas import ProcedureCreate, StepDone
from shared.contracts.needs import PROCEDURE_STEP_OVERDUE, ProcedureStepEvent
from shared.errors import Conflict, NotFound, ValidationFailed, unknown
from shared.outbox import add_event

Limits = Mapping[str, Mapping[str, StepLimit]]


def _limits_of(limits: Limits, kind: str) -> Mapping[str, StepLimit]:
    if kind not in limits:
        raise ValidationFailed.one("kind", "unknown_procedure", "not a procedure this county runs")
    return limits[kind]


def start(
    *, session: Session, data: ProcedureCreate, limits: Limits, actor: str | None
) -> Procedure:
    """Open a procedure for a person; the steps that start with the application start now."""
    steps = _limits_of(limits, data.kind)
    person = session.get(Person, data.person_id)
    if person is None:
        raise ValidationFailed.one("person_id", "unknown", "no person with this id")
    household = session.get(Household, person.household_id)
    assert household is not None  # a foreign key
    procedure = Procedure(
        id=str(uuid.uuid4()),
        kind=data.kind,
        person_id=person.id,
        household_id=household.id,
        adcode=household.adcode,
        applied_on=data.applied_on,
        created_by=actor,
    )
    session.add(procedure)
    session.flush()
    for name, limit in steps.items():
        if limit.starts_with_application:
            _start_step(session, procedure, name, limit, data.applied_on)
    return procedure


def _start_step(
    session: Session, procedure: Procedure, name: str, limit: StepLimit, on: date
) -> ProcedureStep:
    if steps_of(session, procedure).get(name) is not None:
        raise Conflict("this step has started already", extra={"rule": "started", "step": name})
    end = due(on, limit.days, limit.kind)
    step = ProcedureStep(
        id=str(uuid.uuid4()),
        procedure_id=procedure.id,
        step=name,
        started_on=on,
        due_on=end.on,
        due_estimated=end.estimated,
        extended=False,
    )
    session.add(step)
    session.flush()
    return step


def get_or_raise(*, session: Session, procedure_id: str) -> Procedure:
    """The procedure with this id, or NotFound."""
    procedure = session.get(Procedure, procedure_id)
    if procedure is None:
        raise unknown("procedure")
    return procedure


def steps_of(session: Session, procedure: Procedure) -> dict[str, ProcedureStep]:
    """The procedure's started steps by name."""
    rows = session.scalars(select(ProcedureStep).where(ProcedureStep.procedure_id == procedure.id))
    return {s.step: s for s in rows}


def _limit(limits: Limits, procedure: Procedure, step: str) -> StepLimit:
    steps = _limits_of(limits, procedure.kind)
    if step not in steps:
        raise NotFound("no such step in this procedure")
    return steps[step]


def _started(session: Session, procedure: Procedure, step: str) -> ProcedureStep:
    found = steps_of(session, procedure).get(step)
    if found is None:
        raise Conflict("this step has not started", extra={"rule": "not_started", "step": step})
    return found


def start_step(
    *, session: Session, procedure: Procedure, step: str, on: date, limits: Limits
) -> ProcedureStep:
    """Start a step's clock on `on`."""
    if on < procedure.applied_on:
        raise ValidationFailed.one("started_on", "before_application", "before the application")
    return _start_step(session, procedure, step, _limit(limits, procedure, step), on)


def finish_step(
    *, session: Session, procedure: Procedure, step: str, data: StepDone, limits: Limits
) -> ProcedureStep:
    """Record a step done; its outcome may start the next step's clock (a refusal's notice)."""
    limit = _limit(limits, procedure, step)
    found = _started(session, procedure, step)
    if found.done_on is not None:
        raise Conflict("this step is done already", extra={"rule": "done", "step": step})
    if data.done_on < found.started_on:
        raise ValidationFailed.one("done_on", "before_start", "before the step started")
    found.done_on, found.outcome = data.done_on, data.outcome
    follows = limit.next_on.get(data.outcome)
    if follows is not None:
        _start_step(session, procedure, follows, _limit(limits, procedure, follows), data.done_on)
    session.flush()
    return found


def extend_step(
    *, session: Session, procedure: Procedure, step: str, limits: Limits
) -> ProcedureStep:
    """Extend a step to its longest limit (e.g. a dibao decision from 25 to 40 working days)."""
    limit = _limit(limits, procedure, step)
    found = _started(session, procedure, step)
    if limit.max_days is None or found.extended or found.done_on is not None:
        raise Conflict("this step cannot be extended", extra={"rule": "not_extendable"})
    end = due(found.started_on, limit.max_days, limit.kind)
    found.due_on, found.due_estimated, found.extended = end.on, end.estimated, True
    session.flush()
    return found


def overdue(
    *, session: Session, today: date, area: str | None
) -> list[tuple[Procedure, ProcedureStep]]:
    """Steps not done past their last day (in `area`), the longest overdue first."""
    query = (
        select(Procedure, ProcedureStep)
        .join(ProcedureStep, ProcedureStep.procedure_id == Procedure.id)
        .where(ProcedureStep.done_on.is_(None), ProcedureStep.due_on < today)
    )
    if area is not None:
        query = query.where(Procedure.adcode.startswith(area))
    query = query.order_by(ProcedureStep.due_on, ProcedureStep.id)
    return [(p, s) for p, s in session.execute(query).all()]


def escalate_overdue(*, session: Session, today: date, now: datetime) -> int:
    """Mark newly overdue steps escalated and announce each (ids and codes only)."""
    count = 0
    for procedure, step in overdue(session=session, today=today, area=None):
        if step.escalated_at is not None:
            continue
        step.escalated_at = now
        event = ProcedureStepEvent(
            procedure_id=procedure.id,
            kind=procedure.kind,
            step=step.step,
            person_id=procedure.person_id,
            adcode=procedure.adcode,
            due_on=step.due_on,
            occurred_at=now,
        )
        add_event(
            session,
            OutboxEvent,
            subject=PROCEDURE_STEP_OVERDUE,
            aggregate_id=procedure.id,
            payload=event,
        )
        count += 1
    session.flush()
    return count

"""Early warning as domain operations: define rules, preview them, evaluate them so each fires
once when it becomes true for a person, and close the verification tasks they open."""

import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs.cases.service import change_tier
from services.needs.discovery import facts
from services.needs.discovery.events import announce_task
from services.needs.discovery.models import RuleHit, VerificationTask, WarningRule
from services.needs.discovery.rules import RuleExpression
from services.needs.discovery.schemas import (
    RuleCreate,
    RuleReport,
    TaskClose,
    TaskStatus,
)
from services.needs.models import Household, Person
from shared.contracts.needs import (
    VERIFICATION_TASK_CLOSED,
    VERIFICATION_TASK_OPENED,
)
from shared.errors import Conflict, FieldError, NotFound, ValidationFailed, unknown


def parse_expression(raw: dict[str, object], *, checklist: Mapping[str, object]) -> RuleExpression:
    """The rule's condition, or a 422 naming the part that breaks the rule language or names
    an observation the county's checklist does not have."""
    try:
        expression = RuleExpression.model_validate({"when": raw})
    except ValidationError as exc:
        raise ValidationFailed(
            [
                FieldError(
                    ".".join(["expression", *(str(p) for p in err["loc"][1:])]),
                    str(err["type"]),
                    err["msg"],
                )
                for err in exc.errors(include_input=False)
            ]
        ) from None
    unknown = sorted(expression.observations() - set(checklist))
    if unknown:
        raise ValidationFailed.one(
            "expression", "unknown_observation", f"not on the county's checklist: {unknown[0]}"
        )
    return expression


def create_rule(
    *, session: Session, data: RuleCreate, checklist: Mapping[str, object], actor: str | None
) -> WarningRule:
    """Define a rule; its code is unique."""
    parse_expression(data.expression, checklist=checklist)
    if session.scalar(select(WarningRule.id).where(WarningRule.code == data.code)):
        raise Conflict("a rule with this code exists", extra={"field": "code", "rule": "unique"})
    rule = WarningRule(
        id=str(uuid.uuid4()),
        code=data.code,
        label_zh=data.label_zh,
        label_en=data.label_en,
        expression=data.expression,
        task_due_days=data.task_due_days,
        active=True,
        created_by=actor,
    )
    session.add(rule)
    session.flush()
    return rule


def get_rule_or_raise(*, session: Session, rule_id: str) -> WarningRule:
    """The rule with this id, or NotFound."""
    rule = session.get(WarningRule, rule_id)
    if rule is None:
        raise NotFound("no such rule")
    return rule


def flagged(
    *, session: Session, expression: RuleExpression, area: str | None, as_of: date
) -> list[str]:
    """The ids of the persons for whom the condition holds on `as_of` (within `area`)."""
    return [
        f.person_id for f in facts.everyone(session, area=area, as_of=as_of) if expression.holds(f)
    ]


def evaluate(
    *, session: Session, as_of: date, now: datetime, checklist: Mapping[str, object]
) -> list[VerificationTask]:
    """Evaluate every active rule over every person: a rule that has become true for a person
    fires once (a hit and a verification task); a hit whose rule no longer holds is cleared, so
    the rule fires again if it becomes true again later."""
    opened: list[VerificationTask] = []
    everyone = list(facts.everyone(session, area=None, as_of=as_of))
    rules = session.scalars(select(WarningRule).where(WarningRule.active.is_(True))).all()
    for rule in rules:
        expression = parse_expression(rule.expression, checklist=checklist)
        holding = {f.person_id: f for f in everyone if expression.holds(f)}
        hits = {
            h.person_id: h
            for h in session.scalars(
                select(RuleHit).where(RuleHit.rule_id == rule.id, RuleHit.open_key.is_not(None))
            )
        }
        for person_id, hit in hits.items():
            if person_id not in holding:
                hit.open_key, hit.cleared_at = None, now
        for person_id, fact in holding.items():
            if person_id not in hits:
                opened.append(_fire(session, rule, fact, now=now, as_of=as_of))
    session.flush()
    return opened


def _fire(
    session: Session, rule: WarningRule, fact: facts.Facts, *, now: datetime, as_of: date
) -> VerificationTask:
    session.add(
        RuleHit(
            rule_id=rule.id,
            person_id=fact.person_id,
            open_key=f"{rule.id}:{fact.person_id}",
            fired_at=now,
        )
    )
    task = VerificationTask(
        id=str(uuid.uuid4()),
        rule_id=rule.id,
        person_id=fact.person_id,
        household_id=fact.household_id,
        adcode=fact.adcode,
        status=TaskStatus.OPEN,
        opened_at=now,
        due_on=as_of + timedelta(days=rule.task_due_days),
    )
    session.add(task)
    announce_task(
        session=session, task=task, rule_code=rule.code, subject=VERIFICATION_TASK_OPENED, now=now
    )
    return task


def get_task_or_raise(*, session: Session, task_id: str) -> VerificationTask:
    """The task with this id, or NotFound."""
    task = session.get(VerificationTask, task_id)
    if task is None:
        raise unknown("verification task")
    return task


def close_task(
    *, session: Session, task: VerificationTask, data: TaskClose, actor: str | None, now: datetime
) -> VerificationTask:
    """End a task: confirmed (with the need recorded or the tier changed) or not (with why)."""
    if task.status != TaskStatus.OPEN:
        raise Conflict("the task is closed already", extra={"rule": "state", "status": task.status})
    if data.tier is not None:
        person = session.get(Person, task.person_id)
        assert person is not None  # a foreign key
        change_tier(session=session, person=person, tier=data.tier, actor=actor)
    task.status, task.reason, task.need_id = data.outcome, data.reason, data.need_id
    task.tier_after, task.closed_by, task.closed_at = data.tier, actor, now
    rule = session.get(WarningRule, task.rule_id)
    assert rule is not None
    announce_task(
        session=session, task=task, rule_code=rule.code, subject=VERIFICATION_TASK_CLOSED, now=now
    )
    session.flush()
    return task


def report(*, session: Session, area: str | None) -> list[RuleReport]:
    """Per rule: how many tasks it opened and how they ended, so the county learns which work."""
    query = select(VerificationTask.rule_id, VerificationTask.status)
    if area is not None:
        query = query.where(VerificationTask.adcode.startswith(area))
    counts = Counter((rule_id, status) for rule_id, status in session.execute(query))
    out = []
    for rule in session.scalars(select(WarningRule).order_by(WarningRule.code)):
        by = {s: counts[(rule.id, s)] for s in TaskStatus}
        decided = by[TaskStatus.CONFIRMED] + by[TaskStatus.NOT_CONFIRMED]
        out.append(
            RuleReport(
                rule_id=rule.id,
                code=rule.code,
                label_zh=rule.label_zh,
                label_en=rule.label_en,
                flagged=sum(by.values()),
                open=by[TaskStatus.OPEN],
                confirmed=by[TaskStatus.CONFIRMED],
                not_confirmed=by[TaskStatus.NOT_CONFIRMED],
                confirmed_share=by[TaskStatus.CONFIRMED] / decided if decided else None,
            )
        )
    return out


def household_adcode(session: Session, household_id: str) -> str | None:
    """The adcode of a household (for scope checks)."""
    return session.scalar(select(Household.adcode).where(Household.id == household_id))

"""Routes of early warning: the checklist, the county's rules, and verification tasks."""

from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.needs.discovery import reverse, scheduled, service, watch
from services.needs.discovery.models import VerificationTask, WarningRule
from services.needs.discovery.schemas import (
    EvaluationOut,
    Observation,
    PartnerFlagCreate,
    ReverseCount,
    ReverseList,
    RuleCreate,
    RuleOut,
    RulePreviewIn,
    RulePreviewOut,
    RuleReport,
    TaskClose,
    TaskList,
    TaskOut,
    TaskStatus,
    WatchList,
)
from services.needs.events import ask_reverse
from services.needs.jurisdiction import area_of
from shared.access import principal_of
from shared.actor import Actor, actor_from_request
from shared.auth import Role
from shared.clock import china_today, clock_of, today_of
from shared.contracts.matcher import ReverseMatch, ReverseRequest
from shared.errors import ValidationFailed
from shared.web import Page, pages
from shared.web_db import read, write

router = APIRouter(tags=["early warning"], lifespan=scheduled.lifespan)

_page = pages(
    lambda request: request.app.state.settings.page_size_max,
    default=100,
    cap_name="LIANJIE_NEEDS_PAGE_SIZE_MAX",
)


def _checklist(request: Request) -> dict[str, dict[str, str]]:
    return request.app.state.settings.observation_checklist  # type: ignore[no-any-return]


@router.get("/observations", response_model=list[Observation])
async def list_observations(request: Request) -> list[Observation]:
    """The county's visit checklist (走访观察项): what a visit may record as observed."""
    return [
        Observation(code=code, label_zh=labels["zh"], label_en=labels["en"])
        for code, labels in _checklist(request).items()
    ]


@router.post("/warning-rules", status_code=status.HTTP_201_CREATED, response_model=RuleOut)
async def create_rule(
    body: RuleCreate, request: Request, actor: Actor = Depends(actor_from_request)
) -> RuleOut:
    """Define an early-warning rule (预警规则); it takes part from the next evaluation on."""
    checklist = _checklist(request)
    return await write(
        request,
        lambda s: RuleOut.model_validate(
            service.create_rule(session=s, data=body, checklist=checklist, actor=actor.id)
        ),
    )


@router.get("/warning-rules", response_model=list[RuleOut])
async def list_rules(request: Request) -> list[RuleOut]:
    """The county's rules."""
    return await read(
        request,
        lambda s: [
            RuleOut.model_validate(r)
            for r in s.scalars(select(WarningRule).order_by(WarningRule.code))
        ],
    )


@router.post("/warning-rules/preview", response_model=RulePreviewOut)
async def preview_rule(body: RulePreviewIn, request: Request) -> RulePreviewOut:
    """How many persons in the caller's area the rule would flag today — a count, no names."""
    expression = service.parse_expression(body.expression, checklist=_checklist(request))
    area, today = area_of(request), today_of(request.app)
    flagged = await read(
        request,
        lambda s: service.flagged(session=s, expression=expression, area=area, as_of=today),
    )
    return RulePreviewOut(flagged=len(flagged), as_of=today)


@router.post("/warning-rules/evaluate", response_model=EvaluationOut)
async def evaluate_rules(request: Request) -> EvaluationOut:
    """Evaluate every rule now (a timer does it every
    LIANJIE_NEEDS_WARNING_EVALUATION_INTERVAL_S)."""
    now = clock_of(request.app)()
    today, checklist = china_today(now), _checklist(request)
    opened = await write(
        request,
        lambda s: service.evaluate(session=s, as_of=today, now=now, checklist=checklist),
    )
    return EvaluationOut(opened=len(opened), as_of=today)


@router.get("/warning-rules/report", response_model=list[RuleReport])
async def report(request: Request) -> list[RuleReport]:
    """Per rule: flagged, open, confirmed, not confirmed (in the caller's area)."""
    area = area_of(request)
    return await read(request, lambda s: service.report(session=s, area=area))


@router.get("/verification-tasks", response_model=TaskList)
async def list_tasks(
    request: Request,
    task_status: TaskStatus | None = Query(None, alias="status"),
    page: Page = Depends(_page),
) -> TaskList:
    """Verification tasks of the caller's area, the soonest due first."""
    area, today = area_of(request), today_of(request.app)

    def work(s: Session) -> TaskList:
        query = select(VerificationTask)
        if area is not None:
            query = query.where(VerificationTask.adcode.startswith(area))
        if task_status is not None:
            query = query.where(VerificationTask.status == task_status)
        total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = s.scalars(
            query.order_by(VerificationTask.due_on, VerificationTask.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return TaskList(items=[_task_out(t, today) for t in rows], total=total)

    return await read(request, work)


@router.post("/verification-tasks/{task_id}/close", response_model=TaskOut)
async def close_task(
    task_id: str, body: TaskClose, request: Request, actor: Actor = Depends(actor_from_request)
) -> TaskOut:
    """Close a verification task: confirmed (need or tier named) or not confirmed (reason)."""
    now = clock_of(request.app)()

    def work(s: Session) -> TaskOut:
        task = service.get_task_or_raise(session=s, task_id=task_id)
        closed = service.close_task(session=s, task=task, data=body, actor=actor.id, now=now)
        return _task_out(closed, china_today(now))

    return await write(request, work)


@router.get("/watch-list", response_model=WatchList)
async def list_watched(
    request: Request,
    reason: Literal["exited", "refused", "partner_flag"] | None = Query(None),
    page: Page = Depends(_page),
) -> WatchList:
    """Persons followed after they left assistance, were refused, or a partner flagged them."""
    area, today = area_of(request), today_of(request.app)
    days = request.app.state.settings.watch_days

    def work(s: Session) -> WatchList:
        found = watch.watched(session=s, today=today, days=days, area=area)
        found = [w for w in found if reason is None or w.reason == reason]
        return WatchList(items=found[page.offset : page.offset + page.limit], total=len(found))

    return await read(request, work)


@router.post("/watch-list", status_code=status.HTTP_201_CREATED, response_model=WatchList)
async def flag_person(
    body: PartnerFlagCreate, request: Request, actor: Actor = Depends(actor_from_request)
) -> WatchList:
    """Put a person on the watch list at a partner's word; answers the person's entries."""
    today = today_of(request.app)

    def work(s: Session) -> WatchList:
        watch.flag(session=s, data=body, today=today, actor=actor.id)
        mine = [
            w
            for w in watch.watched(session=s, today=today, days=0, area=None)
            if w.person_id == body.person_id
        ]
        return WatchList(items=mine, total=len(mine))

    return await write(request, work)


async def _reverse(
    request: Request, resource_id: str
) -> tuple[dict[str, reverse.Waiting], list[ReverseMatch]]:
    principal = principal_of(request.scope)
    coordinator = principal is not None and principal.role is Role.COORDINATOR
    area = None if coordinator else area_of(request)  # a coordinator gets counts only
    found = await read(request, lambda s: reverse.candidates(session=s, area=area))
    ask = ReverseRequest(resource_id=resource_id, candidates=reverse.as_candidates(found))
    reply = await ask_reverse(request.app.state.bus, ask)
    if not reply.known:
        raise ValidationFailed.one("resource_id", "unknown", "the matcher knows no such resource")
    return found, reply.matches


@router.get("/reverse-matches/count", response_model=ReverseCount)
async def count_reverse_matches(
    request: Request, resource_id: str = Query(min_length=1, max_length=64)
) -> ReverseCount:
    """How many open needs nobody serves yet the resource may serve (政策找人) — a count, so a
    coordinator can plan a service without seeing who."""
    found, matches = await _reverse(request, resource_id)
    return ReverseCount(resource_id=resource_id, qualifying=len(matches), considered=len(found))


@router.get("/reverse-matches", response_model=ReverseList)
async def list_reverse_matches(
    request: Request,
    resource_id: str = Query(min_length=1, max_length=64),
    page: Page = Depends(_page),
) -> ReverseList:
    """The open needs of the caller's area the resource may serve, ranked (urgency, tier,
    distance, time waiting), each with the hard filters it passed."""
    found, matches = await _reverse(request, resource_id)
    ranked = reverse.ranked(found, matches, today_of(request.app))
    return ReverseList(
        resource_id=resource_id,
        qualifying=len(ranked),
        considered=len(found),
        items=ranked[page.offset : page.offset + page.limit],
    )


def _task_out(task: VerificationTask, today: date) -> TaskOut:
    out = TaskOut.model_validate(task)
    return out.model_copy(
        update={"overdue": task.status == TaskStatus.OPEN and task.due_on < today}
    )

"""Routes of procedures on legal clocks (e.g. a dibao application)."""

from datetime import date

from fastapi import APIRouter, Depends, Request, status
from sqlalchemy.orm import Session

from services.needs.jurisdiction import area_of
from services.needs.procedures import scheduled, service
from services.needs.procedures.clocks import StepLimit
from services.needs.procedures.models import Procedure, ProcedureStep
from services.needs.procedures.schemas import (
    OverdueStep,
    OverdueSteps,
    ProcedureCreate,
    ProcedureKind,
    ProcedureOut,
    StepDone,
    StepOut,
    StepStart,
)
from shared import workdays
from shared.actor import Actor, actor_from_request
from shared.clock import today_of
from shared.web import Page, pages
from shared.web_db import read, write

router = APIRouter(tags=["procedures"], lifespan=scheduled.lifespan)

_page = pages(
    lambda request: request.app.state.settings.page_size_max,
    default=100,
    cap_name="LIANJIE_NEEDS_PAGE_SIZE_MAX",
)


def _limits(request: Request) -> dict[str, dict[str, StepLimit]]:
    return request.app.state.settings.procedure_limits  # type: ignore[no-any-return]


def _step_out(step: ProcedureStep, limit: StepLimit | None, today: date) -> StepOut:
    return StepOut.model_validate(step).model_copy(
        update={
            "label_zh": limit.label_zh if limit else step.step,
            "label_en": limit.label_en if limit else step.step,
            "overdue": step.done_on is None and step.due_on < today,
        }
    )


def _procedure_out(
    session: Session, procedure: Procedure, limits: dict[str, dict[str, StepLimit]], today: date
) -> ProcedureOut:
    mine = limits.get(procedure.kind, {})
    steps = sorted(service.steps_of(session, procedure).values(), key=lambda s: s.started_on)
    return ProcedureOut.model_validate(procedure).model_copy(
        update={"steps": [_step_out(s, mine.get(s.step), today) for s in steps]}
    )


@router.get("/procedure-kinds", response_model=list[ProcedureKind])
async def list_kinds(request: Request) -> list[ProcedureKind]:
    """The procedures the county runs and the limits of their steps (settings)."""
    return [
        ProcedureKind(
            kind=kind,
            steps={name: limit.model_dump() for name, limit in steps.items()},
            calendar_vintage=workdays.vintage(),
        )
        for kind, steps in _limits(request).items()
    ]


@router.post("/procedures", status_code=status.HTTP_201_CREATED, response_model=ProcedureOut)
async def start_procedure(
    body: ProcedureCreate, request: Request, actor: Actor = Depends(actor_from_request)
) -> ProcedureOut:
    """Open a procedure for a person; the clocks that run from the application start."""
    limits, today = _limits(request), today_of(request.app)

    def work(s: Session) -> ProcedureOut:
        procedure = service.start(session=s, data=body, limits=limits, actor=actor.id)
        return _procedure_out(s, procedure, limits, today)

    return await write(request, work)


@router.get("/procedures/overdue", response_model=OverdueSteps)
async def list_overdue(request: Request, page: Page = Depends(_page)) -> OverdueSteps:
    """Steps past their legal limit in the caller's area, the longest overdue first."""
    limits, today, area = _limits(request), today_of(request.app), area_of(request)

    def work(s: Session) -> OverdueSteps:
        found = service.overdue(session=s, today=today, area=area)
        items = [
            OverdueStep(
                procedure_id=p.id,
                kind=p.kind,
                person_id=p.person_id,
                adcode=p.adcode,
                step=_step_out(step, limits.get(p.kind, {}).get(step.step), today),
            )
            for p, step in found[page.offset : page.offset + page.limit]
        ]
        return OverdueSteps(items=items, total=len(found))

    return await read(request, work)


@router.get("/procedures/{procedure_id}", response_model=ProcedureOut)
async def get_procedure(procedure_id: str, request: Request) -> ProcedureOut:
    """A procedure with its steps, due days and what is overdue."""
    limits, today = _limits(request), today_of(request.app)
    return await read(
        request,
        lambda s: _procedure_out(
            s, service.get_or_raise(session=s, procedure_id=procedure_id), limits, today
        ),
    )


@router.post("/procedures/{procedure_id}/steps/{step}/start", response_model=ProcedureOut)
async def start_step(
    procedure_id: str, step: str, body: StepStart, request: Request
) -> ProcedureOut:
    """Start a step's clock (e.g. the public notice)."""
    limits, today = _limits(request), today_of(request.app)

    def work(s: Session) -> ProcedureOut:
        procedure = service.get_or_raise(session=s, procedure_id=procedure_id)
        service.start_step(
            session=s, procedure=procedure, step=step, on=body.started_on, limits=limits
        )
        return _procedure_out(s, procedure, limits, today)

    return await write(request, work)


@router.post("/procedures/{procedure_id}/steps/{step}/done", response_model=ProcedureOut)
async def finish_step(
    procedure_id: str, step: str, body: StepDone, request: Request
) -> ProcedureOut:
    """Record a step done, with its outcome (a refusal starts the clock of its notice)."""
    limits, today = _limits(request), today_of(request.app)

    def work(s: Session) -> ProcedureOut:
        procedure = service.get_or_raise(session=s, procedure_id=procedure_id)
        service.finish_step(session=s, procedure=procedure, step=step, data=body, limits=limits)
        return _procedure_out(s, procedure, limits, today)

    return await write(request, work)


@router.post("/procedures/{procedure_id}/steps/{step}/extend", response_model=ProcedureOut)
async def extend_step(procedure_id: str, step: str, request: Request) -> ProcedureOut:
    """Extend a step to its longest limit (a dibao decision: 40 working days)."""
    limits, today = _limits(request), today_of(request.app)

    def work(s: Session) -> ProcedureOut:
        procedure = service.get_or_raise(session=s, procedure_id=procedure_id)
        service.extend_step(session=s, procedure=procedure, step=step, limits=limits)
        return _procedure_out(s, procedure, limits, today)

    return await write(request, work)

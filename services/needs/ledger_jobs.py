"""Ledger imports through the API: an upload becomes a job a web page can poll.

`POST /households/import` reads the file (CSV in UTF-8 or GBK, or XLSX) and answers 202 with
the job; the rows are imported in a worker thread, each in its own transaction, and the job's
counts (processed of total; created, updated, unchanged, refused) are written as it goes, so
`GET /households/imports/{id}` shows progress and, at the end, every row's outcome (row
numbers, headers, rules and ids: never a cell's value).

The file lives only in the process that reads it. A job whose process died (killed, restarted)
stops writing its heartbeat; `interrupt_stale` — at start and on a timer — marks it
`interrupted`, and the station uploads the ledger again: rows already imported come back
`unchanged`. The heartbeat, not the start of a process, decides, so a replica that starts
never interrupts the imports another replica is running.
"""

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from services.needs.ledger_import import (
    HEAD_NAME,
    HEADERS,
    ImportReport,
    Ledger,
    Outcome,
    RowOutcome,
    import_ledger,
)
from services.needs.models import LedgerImportJob
from shared.actor import Actor
from shared.db import run_in_transaction, transaction
from shared.errors import unknown

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5  # how often a running job writes its counts


class JobState:
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # its process died mid-import: upload the ledger again


INTERRUPTED_MESSAGE = (
    "导入因服务重启而中断，请重新上传台账（已导入的行将记为未变）/ the import was interrupted "
    "(the service restarted): upload the ledger again; rows already imported count as unchanged"
)


def start(
    *,
    sessions: sessionmaker[Session],
    ledger: Ledger,
    file_name: str,
    actor: Actor,
    area: str | None,
) -> LedgerImportJob:
    """Record a new job for `ledger` (its rows not yet imported)."""
    ignored = [h for h in ledger.headers if h and h not in HEADERS and h != HEAD_NAME]
    now = datetime.now(UTC)
    job = LedgerImportJob(
        id=str(uuid.uuid4()),
        file_name=file_name[:200],
        state=JobState.RUNNING,
        total=len(ledger.rows),
        processed=0,
        created=0,
        updated=0,
        unchanged=0,
        refused=0,
        rows=[],
        ignored_columns=ignored,
        actor=actor.id,
        area=area,
        created_at=now,
        heartbeat_at=now,
    )
    with transaction(sessions) as session:
        session.add(job)
    return job


def run(
    *, sessions: sessionmaker[Session], job_id: str, ledger: Ledger, actor: Actor, area: str | None
) -> None:
    """Import the rows, writing the job's counts as they grow and its report at the end."""
    counts = dict.fromkeys(Outcome, 0)
    last = time.monotonic()

    def on_row(outcome: RowOutcome) -> None:
        nonlocal last
        counts[outcome.outcome] += 1
        if time.monotonic() - last >= PROGRESS_EVERY_S:
            _save(sessions, job_id, counts)
            last = time.monotonic()

    try:
        report = import_ledger(
            sessions=sessions, ledger=ledger, actor=actor, area=area, on_row=on_row
        )
    except Exception:
        log.exception("ledger import %s failed", job_id)
        _save(sessions, job_id, counts, state=JobState.FAILED, error="the import stopped")
        return
    _save(sessions, job_id, counts, state=JobState.DONE, rows=rows_of(report))


def rows_of(report: ImportReport) -> list[dict[str, Any]]:
    """Each row's outcome and errors, as the job answers them (ids, headers and rules)."""
    errors: dict[int, list[dict[str, str]]] = {}
    for e in report.errors:
        errors.setdefault(e.row, []).append(
            {"field": e.field, "rule": e.rule, "message": e.message}
        )
    return [
        {
            "row": o.row,
            "outcome": o.outcome.value,
            "household_id": o.household_id,
            "person_id": o.person_id,
            "fields": list(o.fields),
            "errors": errors.get(o.row, []),
        }
        for o in report.outcomes
    ]


def _save(
    sessions: sessionmaker[Session],
    job_id: str,
    counts: dict[Outcome, int],
    *,
    state: str | None = None,
    rows: list[dict[str, Any]] | None = None,
    error: str | None = None,
) -> None:
    with transaction(sessions) as session:
        job = session.get(LedgerImportJob, job_id)
        if job is None:
            return
        job.processed = sum(counts.values())
        job.created = counts[Outcome.CREATED]
        job.updated = counts[Outcome.UPDATED]
        job.unchanged = counts[Outcome.UNCHANGED]
        job.refused = counts[Outcome.REFUSED]
        job.heartbeat_at = datetime.now(UTC)
        if state is not None:
            job.state = state
            job.finished_at = datetime.now(UTC)
        if rows is not None:
            job.rows = rows
        if error is not None:
            job.error = error


def run_in_background(
    app_state: Any, *, job_id: str, ledger: Ledger, actor: Actor, area: str | None
) -> None:
    """Run the job in a worker thread; the app keeps the task so it is not collected."""
    tasks: set[asyncio.Task[None]] = app_state.__dict__.setdefault("ledger_jobs", set())
    task = asyncio.create_task(
        asyncio.to_thread(
            run,
            sessions=app_state.sessions,
            job_id=job_id,
            ledger=ledger,
            actor=actor,
            area=area,
        )
    )
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def interrupt_stale(*, session: Session, now: datetime, stale_after: timedelta) -> int:
    """Mark interrupted every running job silent for `stale_after`; how many were."""
    silent_since = now - stale_after
    result = session.execute(
        update(LedgerImportJob)
        .where(
            LedgerImportJob.state == JobState.RUNNING,
            or_(
                LedgerImportJob.heartbeat_at < silent_since,
                LedgerImportJob.heartbeat_at.is_(None),
            ),
        )
        .values(state=JobState.INTERRUPTED, error=INTERRUPTED_MESSAGE, finished_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def interrupt_stale_forever(
    *, sessions: sessionmaker[Session], interval_s: float, stale_after: timedelta
) -> None:
    """`interrupt_stale` now and every `interval_s`, until cancelled."""
    while True:
        try:
            found = await run_in_transaction(
                sessions,
                lambda s: interrupt_stale(
                    session=s, now=datetime.now(UTC), stale_after=stale_after
                ),
            )
        except Exception as exc:  # the timer must outlive a database hiccup; next round retries
            log.warning("looking for interrupted ledger imports failed: %s", type(exc).__name__)
        else:
            if found:
                log.info("marked %d ledger imports interrupted (their process stopped)", found)
        await asyncio.sleep(interval_s)


def get(*, session: Session, job_id: str, actor: Actor) -> LedgerImportJob:
    """The job, if the caller started it (admins see every job); else NotFound."""
    job = session.get(LedgerImportJob, job_id)
    if job is None or (actor.role != "admin" and job.actor != actor.id):
        raise unknown("import")
    return job

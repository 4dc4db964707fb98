"""A ledger import whose process dies is not left `running` forever (issue 16): the needs
service, started again, marks it interrupted with a message in Chinese and English, the station
sees that and uploads the ledger again, which imports without duplicates. An import still
beating (another replica's) is never interrupted."""

import csv
import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from cli.stack import Stack
from services.needs import ledger_jobs
from services.needs.app import MIGRATIONS
from services.needs.models import LedgerImportJob
from shared.auth import Role
from shared.db import migrate, session_factory, transaction
from tests.auth import JIANGAN_TOWN
from tests.conftest import BACKENDS, Databases, start_stack
from tests.support.factories import resident_id

STALE_S = 3
ROWS = 2000  # enough that the import is still running when its process is killed
HEADERS = ["户编号", "姓名", "与户主关系", "身份证号", "家庭住址", "行政区划代码", "困难类型"]


@pytest.fixture(params=BACKENDS)
def quick_stack(
    request: pytest.FixtureRequest, tmp_path: Path, databases: Databases
) -> Iterator[Stack]:
    """A stack of its own (its needs service is killed) that finds silent imports quickly."""
    env = {
        "LIANJIE_NEEDS_LEDGER_JOB_STALE_S": str(STALE_S),
        "LIANJIE_NEEDS_LEDGER_JOB_SWEEP_INTERVAL_S": "0.5",
    }
    stack, _logs = start_stack(tmp_path, databases, request.param, env)
    yield stack
    stack.stop()


def _ledger() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for i in range(ROWS):
        born = (date(1940, 1, 1) + timedelta(days=i)).strftime("%Y%m%d")
        address = f"江安县江安镇红星村{i % 12 + 1}组{i}号"
        writer.writerow([f"H{i}", f"户主{i}", "户主", resident_id(born=born, serial="001"),
                         address, JIANGAN_TOWN, "低保"])  # fmt: skip
    return out.getvalue().encode("utf-8-sig")


def _job_until(
    client: httpx.Client, where: str, done: Any, timeout_s: float, what: str
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = client.get(where)
        if answer.status_code == 200 and done(answer.json()):
            return answer.json()  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"the import job never {what}")


def _upload(client: httpx.Client, stack: Stack, data: bytes) -> str:
    sent = client.post(f"{stack.url('needs')}/households/import?file_name=ledger", content=data)
    assert sent.status_code == 202, sent.text
    return stack.url("needs") + sent.headers["Location"]


@pytest.mark.integration
def test_an_import_whose_service_was_killed_is_marked_interrupted_and_can_be_run_again(
    quick_stack: Stack,
) -> None:
    stack, data = quick_stack, _ledger()
    worker = stack.client(Role.SOCIAL_WORKER, adcode=JIANGAN_TOWN, sub="sw-ledger", timeout=30)
    with worker:
        where = _upload(worker, stack, data)
        _job_until(worker, where, lambda j: j["processed"] > 0, 60, "made progress")
        stack.stop_process("needs", kill=True)
        stack.start_service("needs")
        stack.wait_ready(services=("needs",))
        stopped = _job_until(
            worker, where, lambda j: j["state"] != "running", STALE_S + 30, "stopped running"
        )
        assert stopped["state"] == "interrupted", stopped
        assert "中断" in stopped["error"] and "interrupted" in stopped["error"]
        assert stopped["finished_at"] is not None and stopped["processed"] < stopped["total"]

        again = _upload(worker, stack, data)
        rerun = _job_until(worker, again, lambda j: j["state"] != "running", 600, "finished")
        assert rerun["state"] == "done", rerun
        counts = (rerun["created"], rerun["updated"], rerun["unchanged"], rerun["refused"])
        assert counts[0] + counts[2] == ROWS and counts[1] == counts[3] == 0, counts
        assert counts[2] >= stopped["processed"], "rows imported before the kill are kept"
        listed = worker.get(f"{stack.url('needs')}/households", params={"limit": 1}).json()
        assert listed["total"] == ROWS, "nothing was imported twice"


def test_only_imports_silent_for_longer_than_the_limit_are_interrupted(engine: Engine) -> None:
    migrate(engine, MIGRATIONS)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    beats = {"live": now - timedelta(seconds=5), "dead": now - timedelta(minutes=5)}
    with transaction(sessions) as s:
        for name, beat in beats.items():
            s.add(_job(name, ledger_jobs.JobState.RUNNING, beat))
        s.add(_job("finished", ledger_jobs.JobState.DONE, now - timedelta(hours=1)))
    with transaction(sessions) as s:
        found = ledger_jobs.interrupt_stale(session=s, now=now, stale_after=timedelta(minutes=2))
    assert found == 1
    with sessions() as s:
        states = {job.file_name: (job.state, job.error) for job in s.query(LedgerImportJob)}
    assert states == {
        "live": ("running", None),
        "dead": ("interrupted", ledger_jobs.INTERRUPTED_MESSAGE),
        "finished": ("done", None),
    }


def _job(name: str, state: str, beat: datetime) -> LedgerImportJob:
    return LedgerImportJob(
        id=str(uuid.uuid4()), file_name=name, state=state, total=1, processed=0, created=0,
        updated=0, unchanged=0, refused=0, rows=[], ignored_columns=[], actor="sw-1",
        area=JIANGAN_TOWN, created_at=beat, heartbeat_at=beat,
    )  # fmt: skip

"""Graceful shutdown: a service told to stop (SIGTERM) finishes the request in flight, answers
it, and flushes its outbox before it exits: nothing the caller was told happened is lost. The
flush takes as long as LIANJIE_OUTBOX_DRAIN_S allows, not a fixed 5 s."""

import asyncio
import csv
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from cli.stack import SERVICES, Stack, StackConfig, free_port
from services.resources.importing import IMPORT_CHUNK_ROWS
from shared.contracts.streams import RESOURCES_STREAM
from shared.db import create_db_engine, session_factory
from tests.auth import bearer
from tests.conftest import KEYS_DIR, Databases, LogCapture
from tests.faults.conftest import GRACEFUL_SHUTDOWN_S
from tests.faults.sql import scalar
from tests.support.outbox import queue_events
from tests.support.slow_link import SlowLink

ROWS = 3 * IMPORT_CHUNK_ROWS  # committed a chunk at a time: the signal comes between chunks


def _csv(rows: int) -> bytes:
    """A volunteers' spreadsheet of `rows` rows, as a county would upload it."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["名称", "类型", "服务类别", "纬度", "经度", "服务半径(公里)", "容量"])
    for i in range(rows):
        writer.writerow(
            [
                f"停机测试服务点{i}",
                "volunteer",
                "elderly_care.companionship",
                30.0 + 0.001 * i,
                104.0,
                2,
                1,
            ]
        )
    return out.getvalue().encode("utf-8")


async def _stream_seq(stack: Stack) -> int:
    nc = await nats.connect(stack.nats_url, connect_timeout=5)
    try:
        return (await nc.jetstream().stream_info(RESOURCES_STREAM.name)).state.last_seq
    finally:
        await nc.close()


@pytest.mark.integration
def test_sigterm_mid_request_answers_it_and_flushes_the_outbox(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    database = stack.config.service_env["resources"]["LIANJIE_RESOURCES_DATABASE_URL"]
    answer: dict[str, httpx.Response] = {}

    def import_rows() -> None:
        with httpx.Client(timeout=GRACEFUL_SHUTDOWN_S + 30, headers=bearer()) as client:
            answer["response"] = client.post(
                f"{stack.url('resources')}/resources/import", content=_csv(ROWS)
            )

    request = threading.Thread(target=import_rows)
    request.start()
    deadline = time.monotonic() + 60
    while scalar(database, "SELECT count(*) FROM resource") < 10:
        assert time.monotonic() < deadline, "the import never started"
        time.sleep(0.02)
    at_sigterm = scalar(database, "SELECT count(*) FROM resource")
    stack.stop_process("resources")  # SIGTERM, and wait for the process to exit
    in_flight_at_stop = scalar(database, "SELECT count(*) FROM resource")
    request.join(timeout=30)

    response = answer["response"]
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["total"], report["rejected"]) == (ROWS, 0)
    assert report["accepted"] + report["flagged"] == ROWS
    assert scalar(database, "SELECT count(*) FROM resource") == ROWS
    # The outbox was flushed on the way out: every event is in the stream, none waits.
    assert scalar(database, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
    assert asyncio.run(_stream_seq(stack)) == scalar(database, "SELECT count(*) FROM outbox")
    # The import was under way when the signal came, and finished before the process exited.
    assert 10 <= at_sigterm < ROWS
    assert in_flight_at_stop == ROWS


OLD_DRAIN_S = 5.0  # the drain on stop before LIANJIE_OUTBOX_DRAIN_S (8a3033a): a fixed 5 s
DELAY_S = 0.04  # behind the slow link each publish waits this long for its ack: ≤ 25 a second
BACKLOG = 175  # 7 s of publishes at least


@pytest.fixture
def slow_resources(tmp_path: Path, databases: Databases) -> Iterator[Stack]:
    """NATS, and the resources service alone, reaching NATS over a slow link, with a drain
    long enough for its backlog. On SQLite only: the drain reads the outbox the same way on
    both backends, and tests/shared/test_outbox_drain.py runs it on each; this test's 16 s
    are for the setting reaching the process on SIGTERM."""
    database = databases.url("sqlite", "resources")
    config = StackConfig(
        var_dir=tmp_path,
        nats_port=free_port(),
        ports={service: free_port() for service in SERVICES},
        service_env={"resources": {"LIANJIE_RESOURCES_DATABASE_URL": database}},
        keys_dir=KEYS_DIR,
    )
    stack = Stack(config, sink=LogCapture(tmp_path / "stack.log"))
    try:
        stack.start_nats()
        stack.provision_streams()
        with SlowLink(config.host, stack.nats_port, delay_s=0.0).running() as link:
            slow = {"LIANJIE_NATS_URL": link.url(), "LIANJIE_OUTBOX_DRAIN_S": "60"}
            stack.start_service("resources", env_override=slow)
            stack.wait_ready(services=("resources",))
            link.delay_s = DELAY_S  # slow from here on: started at full speed
            yield stack
            stack.stop_process("resources")
    finally:
        stack.stop()


@pytest.mark.integration
def test_sigterm_sends_a_backlog_the_old_fixed_drain_could_not(slow_resources: Stack) -> None:
    stack = slow_resources
    database = stack.config.service_env["resources"]["LIANJIE_RESOURCES_DATABASE_URL"]
    engine = create_db_engine(database)
    try:
        queue_events(session_factory(engine), BACKLOG)
    finally:
        engine.dispose()
    waiting = scalar(database, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    stack.stop_process("resources")  # SIGTERM, and wait for the process to exit

    # At one publish per DELAY_S at best, 5 s (and the moments before the drain) could not
    # have sent the backlog: the drain went on as long as LIANJIE_OUTBOX_DRAIN_S allowed.
    assert waiting * DELAY_S >= OLD_DRAIN_S + 1, waiting
    assert scalar(database, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
    assert asyncio.run(_stream_seq(stack)) == scalar(database, "SELECT count(*) FROM outbox")

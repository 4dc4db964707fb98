"""Graceful shutdown: a service told to stop (SIGTERM) finishes the request in flight, answers
it, and flushes its outbox before it exits: nothing the caller was told happened is lost."""

import asyncio
import csv
import io
import threading
import time

import httpx
import nats
import pytest

from cli.stack import Stack
from services.resources.importing import IMPORT_CHUNK_ROWS
from shared.contracts.streams import RESOURCES_STREAM
from tests.auth import bearer
from tests.faults.conftest import GRACEFUL_SHUTDOWN_S
from tests.faults.sql import scalar

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

"""One poison row in the outbox never blocks the others: it is parked after its attempts,
counted, listed for an operator and re-drivable; /readyz says not ready while it holds up.

The rows are written straight into the outbox table, so the relay is tested on its own, apart
from the validation that keeps such ids out at the edge."""

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from cli.stack import Stack
from shared.auth import Role
from shared.contracts.resources import resource_subject
from shared.db import create_db_engine
from tests.auth import bearer
from tests.conftest import BACKENDS, Databases, start_stack
from tests.support.factories import resource_body

PARKED = "/admin/outbox/parked"
ATTEMPTS = 5  # with pauses of 0.4, 0.8, 1.6, 3.2 s: parked some 6 s after it was written


@pytest.fixture(params=BACKENDS)
def parking_stack(
    request: pytest.FixtureRequest, tmp_path: Path, databases: Databases
) -> Iterator[Stack]:
    env = {
        "LIANJIE_OUTBOX_MAX_ATTEMPTS": str(ATTEMPTS),
        "LIANJIE_OUTBOX_RETRY_PAUSE_S": "0.4",
        "LIANJIE_OUTBOX_MAX_AGE_S": "1.5",
    }
    stack, _logs = start_stack(tmp_path, databases, request.param, env=env)
    yield stack
    stack.stop()


def _poison(database: str, subject: str, aggregate: str) -> str:
    event_id = str(uuid.uuid4())
    engine = create_db_engine(database)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO outbox (event_id, subject, aggregate_id, payload, created_at,"
                    " attempts) VALUES (:e, :s, :a, '{}', :t, 0)"
                ),
                {"e": event_id, "s": subject, "a": aggregate, "t": datetime.now(UTC)},
            )
    finally:
        engine.dispose()
    return event_id


def _set_subject(database: str, event_id: str, subject: str) -> None:
    engine = create_db_engine(database)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE outbox SET subject = :s WHERE event_id = :e"),
                {"s": subject, "e": event_id},
            )
    finally:
        engine.dispose()


def _until(what: str, probe: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g}s"
        time.sleep(0.2)


def _parked_metric(client: httpx.Client, url: str) -> float:
    for line in client.get(f"{url}/metrics").text.splitlines():
        if line.startswith("lianjie_outbox_parked{"):
            return float(line.split()[-1])
    raise AssertionError("no lianjie_outbox_parked metric")


@pytest.mark.integration
def test_a_poison_row_is_parked_and_later_events_still_reach_the_matcher(
    parking_stack: Stack,
) -> None:
    stack = parking_stack
    resources = stack.url("resources")
    database = stack.config.service_env["resources"]["LIANJIE_RESOURCES_DATABASE_URL"]
    dotted = _poison(database, resource_subject("bad.id"), "bad.id")  # no stream takes it
    spaced = _poison(database, resource_subject("bad id"), "bad id")  # never publishable
    with httpx.Client(timeout=10, headers=bearer()) as client:
        # Held up: readiness says so while the first row is retried.
        stuck = _until(
            "readyz reports the stuck outbox",
            lambda: (r := client.get(f"{resources}/readyz")).status_code == 503 and r.json(),
        )
        assert stuck["checks"]["outbox"].startswith("stuck"), stuck
        # Later events still flow, past the poison rows.
        for i in range(3):
            created = client.post(f"{resources}/resources", json=resource_body(name=f"后来的{i}"))
            assert created.status_code == 201, created.text
        _until(
            "the matcher holds the later resources",
            lambda: client.get(f"{stack.url('matcher')}/index").json()["resources"] >= 3,
        )
        # Parked after its attempts (the unpublishable one at once), counted, listed.
        listed = _until(
            "both rows parked",
            lambda: (r := client.get(f"{resources}{PARKED}").json())["count"] == 2 and r,
        )
        by_id = {e["event_id"]: e for e in listed["events"]}
        assert by_id[dotted]["attempts"] == ATTEMPTS, by_id
        assert by_id[spaced]["last_error"] == "invalid_subject", by_id
        assert "payload" not in by_id[dotted]
        assert _parked_metric(client, resources) == 2
        _until("ready again", lambda: client.get(f"{resources}/readyz").status_code == 200)
        # Only an operator sees or re-drives them.
        coordinator = bearer(Role.COORDINATOR, organization="江安县爱心餐饮有限公司")
        assert client.get(f"{resources}{PARKED}", headers=coordinator).status_code == 403
        # The operator fixes one row and re-drives both: it goes out, the other parks again.
        _set_subject(database, dotted, resource_subject("fixed-id"))
        redriven = client.post(f"{resources}{PARKED}/redrive", json={})
        assert redriven.status_code == 200, redriven.text
        assert redriven.json() == {"redriven": 2}
        after = _until(
            "the fixed row sent, the other parked again",
            lambda: (
                (r := client.get(f"{resources}{PARKED}").json())["count"] == 1
                and _parked_metric(client, resources) == 1
                and r
            ),
        )
        assert [e["event_id"] for e in after["events"]] == [spaced]
        one = client.post(f"{resources}{PARKED}/redrive", json={"event_ids": [dotted]})
        assert one.json() == {"redriven": 0}, "a sent row is not parked: nothing to re-drive"

"""OpenTelemetry: off by default; when on, one trace spans the needs service's HTTP request and
the matcher's answer over NATS, and the log records of both carry its id."""

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cli.stack import Stack
from tests.auth import bearer
from tests.conftest import Databases, start_stack
from tests.referrals.test_loop import new_need, ok, spot

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("traced")
    stack, logs = start_stack(tmp, databases, "sqlite", env={"LIANJIE_OTEL_EXPORTER": "console"})
    stack.logs = logs  # type: ignore[attr-defined]
    yield stack
    stack.stop()


def _json_lines(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, line in list(stack.logs.lines):  # type: ignore[attr-defined]
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append((name, record))
    return found


def test_one_trace_runs_from_http_through_nats_to_the_matcher(traced: Stack) -> None:
    with httpx.Client(timeout=15, headers=bearer()) as client:
        need_id = new_need(client, traced, spot())
        parent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
        ok(
            client.post(
                f"{traced.url('needs')}/needs/{need_id}/matches",
                json={},
                headers={"traceparent": parent},
            )
        )
    deadline = time.monotonic() + 10
    while True:
        lines = _json_lines(traced)
        spans = {
            (name, r["name"])
            for name, r in lines
            if r.get("context", {}).get("trace_id") == f"0x{TRACE_ID}"
        }
        wanted = {
            ("matcher", "answer lianjie.matcher.rank.v1"),
            ("needs", "HTTP POST /needs/{need_id}/matches"),
        }
        if wanted <= spans:  # the HTTP span ends just after its response is sent
            break
        assert time.monotonic() < deadline, spans
        time.sleep(0.2)
    assert ("needs", "ask lianjie.matcher.rank.v1") in spans
    time.sleep(1.0)  # a span around ours (FastAPI's own, if it were on) ends after it
    # Log records are written by a thread in batches (shared/logs.py): read them again.
    lines = _json_lines(traced)
    servers = [
        r["name"]
        for name, r in lines
        if name == "needs"
        and r.get("kind") == "SpanKind.SERVER"
        and r.get("context", {}).get("trace_id") == f"0x{TRACE_ID}"
    ]
    assert servers == ["HTTP POST /needs/{need_id}/matches"], "one server span a request"
    logged = {(name, r["message"]) for name, r in lines if r.get("trace_id") == TRACE_ID}
    assert ("matcher", "answered lianjie.matcher.rank.v1") in logged


def test_traces_are_off_by_default(stack: Stack) -> None:
    with httpx.Client(timeout=15) as client:
        client.get(f"{stack.url('needs')}/healthz")
    records = [r for _name, r in _json_lines(stack)]
    assert records and all(r.get("trace_id") is None for r in records)
    assert not any("context" in r and "trace_id" in r.get("context", {}) for r in records)

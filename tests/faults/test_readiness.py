"""Readiness follows the dependencies: /readyz answers 503 while NATS is down and 200 once it is
back; the metrics name what an operator watches (latency, outbox backlog, lag, rank time)."""

import time

import httpx
import pytest

from cli.stack import SERVICES, Stack
from tests.auth import bearer


def _readiness(stack: Stack) -> dict[str, tuple[int, str]]:
    """Per service: the /readyz status and what its NATS check says."""
    found = {}
    for service in SERVICES:
        response = httpx.get(f"{stack.url(service)}/readyz", timeout=5)
        found[service] = (response.status_code, response.json()["checks"]["nats"])
    return found


def _wait_for(stack: Stack, status: int, timeout: float = 30) -> dict[str, tuple[int, str]]:
    deadline = time.monotonic() + timeout
    while True:
        found = _readiness(stack)
        if {code for code, _check in found.values()} == {status}:
            return found
        assert time.monotonic() < deadline, f"readiness never became {status}: {found}"
        time.sleep(0.2)


def _metrics(stack: Stack, service: str) -> dict[str, float]:
    text = httpx.get(f"{stack.url(service)}/metrics", timeout=5).text
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


@pytest.mark.integration
def test_readyz_is_503_while_nats_is_down_and_200_when_it_is_back(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    assert _wait_for(stack, 200) == {service: (200, "ok") for service in SERVICES}
    stack.stop_process("nats", kill=True)
    down = _wait_for(stack, 503)
    assert {check for _code, check in down.values()} == {"not connected"}
    # Liveness is not readiness: the processes stay up, and writes still succeed (outbox).
    assert all(httpx.get(f"{stack.url(s)}/healthz", timeout=5).status_code == 200 for s in SERVICES)
    stack.start_nats()
    assert _wait_for(stack, 200) == {service: (200, "ok") for service in SERVICES}


@pytest.mark.integration
def test_metrics_show_latency_backlog_lag_and_rank_time(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    with httpx.Client(timeout=10, headers=bearer()) as client:
        household = client.post(
            f"{stack.url('needs')}/households",
            json={"address": "江安县江安镇红星村3组12号", "adcode": "511523101"},
        )
        assert household.status_code == 201, household.text
        need = client.post(
            f"{stack.url('needs')}/needs",
            json={"household_id": household.json()["id"], "category": "elderly_care.meals"},
        )
        assert need.status_code == 201, need.text
        matches = client.post(f"{stack.url('needs')}/needs/{need.json()['id']}/matches", json={})
        assert matches.status_code == 200, matches.text
    matcher = _metrics(stack, "matcher")
    assert matcher['lianjie_matcher_rank_seconds_count{service="matcher"}'] >= 1
    assert matcher['lianjie_matcher_index_lag{service="matcher"}'] == 0
    assert matcher['lianjie_matcher_outcomes_lag{service="matcher"}'] == 0
    assert matcher['lianjie_matcher_dead_letters{service="matcher"}'] == 0
    for service in ("needs", "resources"):
        values = _metrics(stack, service)
        assert values[f'lianjie_outbox_backlog{{service="{service}"}}'] == 0
        assert any(name.startswith("lianjie_http_request_seconds_count") for name in values)

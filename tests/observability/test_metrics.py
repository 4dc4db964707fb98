"""Business, process and runtime metrics beside the request latencies, on the real stack."""

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cli.stack import SERVICES, Stack
from tests.auth import bearer
from tests.referrals.test_loop import WORKER, new_need, new_resource, ok, spot, wait_matched

pytestmark = pytest.mark.integration


def _samples(stack: Stack, service: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = httpx.get(f"{stack.url(service)}/metrics", timeout=10).text
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def test_referrals_by_state_overdue_and_outbox_age_are_measured(stack: Stack) -> None:
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        resource_id = new_resource(client, stack, where, total=1)
        need_id = new_need(client, stack, where)
        wait_matched(client, stack, need_id, resource_id)
        body = {"need_id": need_id, "resource_id": resource_id}
        referral = ok(
            client.post(f"{stack.url('needs')}/referrals", json=body, headers=WORKER), 201
        )
    needs = _samples(stack, "needs")
    states = {labels["state"]: value for labels, value in needs["lianjie_referrals"]}
    assert states[referral["state"]] >= 1
    assert needs["lianjie_referrals_overdue"][0][1] >= 0
    for service in ("needs", "resources"):
        (_, age), *_ = _samples(stack, service)["lianjie_outbox_oldest_age_seconds"]
        assert 0 <= age < 60, "the relay keeps up: nothing waits long"


def test_every_service_reports_process_and_runtime_metrics(stack: Stack) -> None:
    for service in SERVICES:
        samples = _samples(stack, service)
        assert samples["process_resident_memory_bytes"][0][1] > 0
        assert "python_gc_collections_total" in samples
        assert "python_info" in samples

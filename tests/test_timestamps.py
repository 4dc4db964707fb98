"""Every timestamp in every answer and event is ISO 8601 with its offset, on SQLite as on
PostgreSQL: the answers of a walk through households, persons, visits, needs, matches,
referrals, review, audit and resources, and the events both services queued (real stack)."""

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from cli.stack import Stack
from shared.db import create_db_engine
from tests.auth import bearer
from tests.referrals.test_loop import REVIEWER, WORKER, act, ok, spot, wait_matched
from tests.support.factories import OMIT, resource_body

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
WITH_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def timestamps(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every (path, value) of a string in `value` that reads as a date with a time."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from timestamps(item, f"{path}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from timestamps(item, f"{path}[{n}]")
    elif isinstance(value, str):
        if TIMESTAMP.match(value):
            yield path, value
        elif value[:1] in ("{", "["):  # a JSON text inside (an audit entry's body)
            with contextlib.suppress(ValueError):
                yield from timestamps(json.loads(value), path)


def naive(answers: dict[str, Any]) -> list[str]:
    found = [
        f"{name}{path} = {value}"
        for name, body in answers.items()
        for path, value in timestamps(body)
        if not WITH_OFFSET.search(value)
    ]
    seen = sum(1 for body in answers.values() for _ in timestamps(body))
    assert seen >= len(answers), f"the walk saw too few timestamps ({seen})"
    return found


def _events(stack: Stack, service: str) -> list[Any]:
    url = stack.config.service_env[service][f"LIANJIE_{service.upper()}_DATABASE_URL"]
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return [json.loads(p) for (p,) in conn.execute(text("SELECT payload FROM outbox"))]
    finally:
        engine.dispose()


@pytest.mark.integration
def test_every_timestamp_in_answers_and_events_carries_its_offset(stack: Stack) -> None:
    needs, resources = stack.url("needs"), stack.url("resources")
    answers: dict[str, Any] = {}

    def keep(name: str, response: httpx.Response, status: int = 200) -> dict[str, Any]:
        answers[name] = ok(response, status)
        return answers[name]

    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        resource = keep(
            "POST /resources",
            client.post(
                f"{resources}/resources",
                json=resource_body(
                    name="民政局救助窗口",
                    kind="department",
                    organization="demo",
                    description=OMIT,
                    location=where,
                    radius_km=1.5,
                    capacity={"total": 3, "unit": "persons", "period": "month"},
                ),
            ),
            201,
        )
        keep("GET /resources/{id}", client.get(f"{resources}/resources/{resource['id']}"))
        keep("GET /resources", client.get(f"{resources}/resources"))
        household = keep(
            "POST /households",
            client.post(
                f"{needs}/households",
                json={
                    "address": "江安县江安镇红星村3组12号",
                    "adcode": "511523101",
                    "location": where,
                },
            ),
            201,
        )
        keep("GET /households/{id}", client.get(f"{needs}/households/{household['id']}"))
        person = keep(
            "POST /households/{id}/persons",
            client.post(
                f"{needs}/households/{household['id']}/persons",
                json={"name": "张三", "is_head": True, "tier": 3},
            ),
            201,
        )
        keep("GET /persons/{id}", client.get(f"{needs}/persons/{person['id']}"))
        visit = {"visited_on": "2026-01-05", "social_worker": "sw-7", "findings": "独居"}
        keep(
            "POST /persons/{id}/visits",
            client.post(f"{needs}/persons/{person['id']}/visits", json=visit),
            201,
        )
        keep("GET /persons/{id}/visits", client.get(f"{needs}/persons/{person['id']}/visits"))
        need = keep(
            "POST /needs",
            client.post(
                f"{needs}/needs",
                json={
                    "household_id": household["id"],
                    "person_id": person["id"],
                    "category": "elderly_care.meals",
                },
            ),
            201,
        )
        keep("GET /needs/{id}", client.get(f"{needs}/needs/{need['id']}"))
        wait_matched(client, stack, need["id"], resource["id"])
        keep("GET /needs/{id}/history", client.get(f"{needs}/needs/{need['id']}/history"))
        body = {"need_id": need["id"], "resource_id": resource["id"]}
        referral = keep(
            "POST /referrals", client.post(f"{needs}/referrals", json=body, headers=WORKER), 201
        )
        keep("GET /referrals/review-queue", client.get(f"{needs}/referrals/review-queue"))
        approval = {"department": "civil_affairs", "decision": "approve"}
        keep("POST review", act(client, stack, referral["id"], "review", approval, REVIEWER))
        keep("POST accept", act(client, stack, referral["id"], "accept"))
        keep("GET /referrals/{id}", client.get(f"{needs}/referrals/{referral['id']}"))
        keep("GET /referrals", client.get(f"{needs}/referrals"))
        keep("GET /referrals/overrides", client.get(f"{needs}/referrals/overrides"))
        keep("GET /referrals/{id}/audit", client.get(f"{needs}/referrals/{referral['id']}/audit"))
        keep("GET /resources/{id} after", client.get(f"{resources}/resources/{resource['id']}"))
    assert naive(answers) == []
    events = {
        "needs events": _events(stack, "needs"),
        "resources events": _events(stack, "resources"),
    }
    assert naive(events) == []

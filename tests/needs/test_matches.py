"""`POST /needs/{id}/matches` over the real stack: the person's groups reach the matcher's
eligibility filter, and an open need moves to matching."""

import time
from datetime import date
from typing import Any

import httpx
import pytest

from cli.stack import Stack
from shared.clock import china_today
from tests.auth import bearer
from tests.support.factories import resident_id
from tests.test_vertical_slice import post, resource

HERE = {"lat": 28.7400, "lon": 105.0700}


def _case(client: httpx.Client, needs: str, *, groups: list[str], born_years_ago: int) -> str:
    household = post(
        client,
        f"{needs}/households",
        {"address": "江安县江安镇红星村5组3号", "adcode": "511523101", "location": HERE},
    )
    born = date(china_today().year - born_years_ago, 3, 1).strftime("%Y%m%d")
    serial = f"{(born_years_ago * 7 + len(groups)) % 500 * 2 + 1:03d}"
    person = post(
        client,
        f"{needs}/households/{household['id']}/persons",
        {"name": "王五", "resident_id": resident_id(born=born, serial=serial), "groups": groups},
    )
    need = post(
        client,
        f"{needs}/needs",
        {
            "household_id": household["id"],
            "person_id": person["id"],
            "category": "elderly_care.meals",
            "description": "独居,需要助餐",
        },
    )
    return str(need["id"])


def _ids(client: httpx.Client, needs: str, need_id: str) -> tuple[set[str], dict[str, Any]]:
    response = client.post(f"{needs}/needs/{need_id}/matches", json={})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return {r["resource_id"] for r in body["results"]}, body


@pytest.mark.integration
def test_matches_respect_the_persons_groups_and_move_the_need_to_matching(stack: Stack) -> None:
    needs = stack.url("needs")
    with httpx.Client(timeout=10, headers=bearer()) as client:
        elderly_only = post(
            client,
            f"{stack.url('resources')}/resources",
            resource(name="长者助餐点", eligible_groups=["elderly"], location=HERE),
        )["id"]
        elder_need = _case(client, needs, groups=["独居老人"], born_years_ago=78)
        young_need = _case(client, needs, groups=[], born_years_ago=30)
        deadline = time.monotonic() + 10
        while elderly_only not in (found := _ids(client, needs, elder_need))[0]:
            assert time.monotonic() < deadline, "the resource never reached the matcher"
            time.sleep(0.1)
        assert found[1]["status"] == "matching"
        young_ids, young = _ids(client, needs, young_need)
        history = client.get(f"{needs}/needs/{elder_need}/history").json()
    assert elderly_only not in young_ids, "an elderly-only resource was offered to a 30-year-old"
    assert young["status"] == "matching"
    assert [h["to_status"] for h in history] == ["open", "matching"]


@pytest.mark.integration
def test_a_resource_finds_the_open_needs_it_may_serve(stack: Stack) -> None:
    """政策找人 over the real stack: the needs service picks open needs, the matcher's hard
    filters decide; coordinators get a count, case workers the ranked list with reasons."""
    needs = stack.url("needs")
    with httpx.Client(timeout=10, headers=bearer()) as client:
        elderly_only = post(
            client,
            f"{stack.url('resources')}/resources",
            resource(name="长者助餐点(反向)", eligible_groups=["elderly"], location=HERE),
        )["id"]
        elder_need = _case(client, needs, groups=["独居老人"], born_years_ago=81)
        young_need = _case(client, needs, groups=[], born_years_ago=33)
        deadline = time.monotonic() + 10
        while True:
            listed = client.get(f"{needs}/reverse-matches", params={"resource_id": elderly_only})
            if listed.status_code == 200:
                break
            assert listed.status_code == 422, listed.text  # not indexed yet
            assert time.monotonic() < deadline, "the resource never reached the matcher"
            time.sleep(0.1)
        body = listed.json()
        found = {m["need_id"]: m for m in body["items"]}
        assert elder_need in found and young_need not in found
        assert {"category", "eligibility", "service_area"} <= set(found[elder_need]["reasons"])
        assert body["qualifying"] == len(body["items"]) <= body["considered"]
        coordinator = bearer("coordinator", organization="demo")
        count = client.get(
            f"{needs}/reverse-matches/count",
            params={"resource_id": elderly_only},
            headers=coordinator,
        )
        assert count.status_code == 200 and count.json()["qualifying"] >= 1
        names = client.get(
            f"{needs}/reverse-matches", params={"resource_id": elderly_only}, headers=coordinator
        )
        assert names.status_code == 403
        unknown = client.get(f"{needs}/reverse-matches", params={"resource_id": "no-such"})
        assert unknown.status_code == 422

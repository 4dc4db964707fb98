"""The acceptance scenario of issue 14, end to end on the real stack: a county built from the
seed figures (Dongqu-style: the rescue alliance's departments, 11 service points, charities,
enterprises, volunteers; a ledger of 85 dibao households with 146 persons and 9 near-dibao
households with 23), run through the whole loop as its workers, reviewers and coordinators
would: matches, review by the right departments, accept with capacity, complete, a micro-wish
claimed at once by two, a decline for no capacity, audit, figures."""

import threading
from typing import Any

import httpx
import pytest

from cli.stack import Stack
from tests.auth import bearer
from tests.test_timestamps import WITH_OFFSET, timestamps

COUNTY = "510402"  # 攀枝花市东区
# Its streets and town as the division table names them (shared/divisions.csv).
TOWNS = ["510402001", "510402002", "510402005", "510402009", "510402010", "510402100"]
CENTRE = (26.55, 101.72)
WORKER = bearer("social_worker", sub="sw-dq", adcode=COUNTY)
HUB = bearer("county_hub", sub="hub-dq", adcode=COUNTY)


def reviewer(department: str) -> dict[str, str]:
    return bearer("alliance_reviewer", sub=f"rv-{department}", department=department, adcode=COUNTY)


def coordinator(organization: str) -> dict[str, str]:
    return bearer("coordinator", sub=f"co-{organization}", organization=organization)


def at(n: int) -> dict[str, float]:
    """The n-th spot of the county, a few hundred metres apart."""
    return {
        "lat": round(CENTRE[0] + 0.004 * (n % 7), 5),
        "lon": round(CENTRE[1] + 0.004 * (n // 7), 5),
    }


class County:
    """The county as its people see it over HTTP; every answer kept for the timestamp check."""

    def __init__(self, stack: Stack, client: httpx.Client) -> None:
        self.stack, self.client = stack, client
        self.answers: list[Any] = []

    def call(self, method: str, service: str, path: str, status: int = 200, **kw: Any) -> Any:
        response = self.client.request(method, f"{self.stack.url(service)}{path}", **kw)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        self.answers.append(response.json())
        return response.json()

    def resource(
        self,
        name: str,
        kind: str,
        organization: str | None,
        categories: list[str],
        n: int,
        **extra: Any,
    ) -> str:
        body = {
            "name": name,
            "kind": kind,
            "organization": organization,
            "categories": categories,
            "description": name,
            "location": at(n),
            "adcodes": [COUNTY],
            "capacity": {"total": extra.pop("total", 20), "unit": "persons", "period": "month"},
            **extra,
        }
        return str(self.call("POST", "resources", "/resources", 201, json=body)["id"])

    def household(self, n: int, hardship: str, members: int) -> list[str]:
        household = self.call(
            "POST",
            "needs",
            "/households",
            201,
            json={
                "address": f"东区{n}号院{n % 5 + 1}栋",
                "adcode": TOWNS[n % len(TOWNS)],
                "location": at(n),
                "hardship_categories": [hardship],
            },
            headers=WORKER,
        )
        persons = []
        for m in range(members):
            body = {
                "name": f"居民{n}之{m}",
                "is_head": m == 0,
                "date_of_birth": "1948-05-01" if m == 0 else "1980-05-01",
                "groups": ["elderly", hardship] if m == 0 and hardship == "dibao" else [],
            }
            person = self.call(
                "POST",
                "needs",
                f"/households/{household['id']}/persons",
                201,
                json=body,
                headers=WORKER,
            )
            persons.append(person["id"])
        return [household["id"], *persons]

    def need(self, household: list[str], category: str, **extra: Any) -> str:
        body = {
            "household_id": household[0],
            "person_id": household[1],
            "category": category,
            **extra,
        }
        return str(self.call("POST", "needs", "/needs", 201, json=body, headers=WORKER)["id"])

    def matches(self, need_id: str) -> list[str]:
        found = self.call("POST", "needs", f"/needs/{need_id}/matches", json={}, headers=WORKER)
        return [r["resource_id"] for r in found["results"]]

    def refer(self, need_id: str, resource_id: str) -> dict[str, Any]:
        ranked = self.matches(need_id)
        assert resource_id in ranked, (resource_id, ranked)
        body = {"need_id": need_id, "resource_id": resource_id, "override_reason": "就近"}
        return dict(self.call("POST", "needs", "/referrals", 201, json=body, headers=WORKER))

    def act(
        self,
        referral_id: str,
        action: str,
        headers: dict[str, str],
        body: Any = None,
        status: int = 200,
    ) -> Any:
        return self.call(
            "POST",
            "needs",
            f"/referrals/{referral_id}/{action}",
            status,
            json=body,
            headers=headers,
        )

    def review_all(self, referral: dict[str, Any]) -> None:
        """Every department the referral waits for finds it in its queue and approves."""
        for department in referral["review_departments"]:
            queue = self.call(
                "GET", "needs", "/referrals/review-queue", headers=reviewer(department)
            )
            assert referral["id"] in [r["id"] for r in queue["items"]], department
            seen = self.call(
                "GET", "needs", f"/referrals/{referral['id']}", headers=reviewer(department)
            )
            assert seen["need"]["category"] and seen["need"]["person"]["name_masked"].endswith("*")
            decision = {"department": department, "decision": "approve"}
            self.act(referral["id"], "review", reviewer(department), decision)

    def deliver(self, referral: dict[str, Any], organization: str) -> dict[str, Any]:
        if referral["state"] == "pending_review":
            self.review_all(referral)
        accepted = self.act(referral["id"], "accept", coordinator(organization))
        assert (accepted["state"], accepted["reservation"]) == ("accepted", "reserved")
        self.act(referral["id"], "start", coordinator(organization))
        done = self.act(
            referral["id"],
            "complete",
            coordinator(organization),
            {"result": "met", "satisfaction": 5},
        )
        audit = self.call("GET", "needs", f"/referrals/{referral['id']}/audit")
        assert audit["intact"] is True
        return dict(done)


@pytest.mark.integration
def test_a_county_runs_the_whole_loop(stack: Stack) -> None:
    with httpx.Client(timeout=30, headers=bearer()) as client:
        county = County(stack, client)
        # The rescue alliance's departments, 11 service points, charities, enterprises, volunteers.
        county.resource("东区民政局救助窗口", "department", "东区民政局", ["basic_living.food"], 0)
        bureau = county.resource(
            "东区教育局学生资助", "department", "东区教育局", ["education.tuition"], 1
        )
        county.resource("东区医疗保障局", "department", "东区医疗保障局", ["medical.clinic"], 2)
        stations = [
            county.resource(
                f"东区第{n + 1}社工站",
                "department",
                f"东区第{n + 1}社工站",
                ["psychological.counselling"],
                3 + n,
                total=5,
            )
            for n in range(11)
        ]
        fund = county.resource(
            "东区慈善会大病救助", "charity", "东区慈善会", ["medical.bill_assistance"], 14
        )
        county.resource(
            "红十字会助学", "charity", "东区红十字会", ["education.school_supplies"], 15
        )
        meals = county.resource(
            "爱心食堂", "enterprise", "爱心食堂", ["elderly_care.meals"], 16, total=1
        )
        spare_meals = county.resource(
            "颐养餐厅", "enterprise", "颐养餐厅", ["elderly_care.meals"], 17
        )
        wish_givers = [
            county.resource(name, "enterprise", name, ["micro_wish.goods"], 18 + i)
            for i, name in enumerate(["钢城超市", "攀枝花文具店"])
        ]
        county.resource("青年志愿服务队", "volunteer", None, ["elderly_care.home_care"], 20)

        # The ledger: 85 dibao households with 146 persons, 9 near-dibao with 23.
        dibao = [county.household(n, "dibao", 2 if n < 61 else 1) for n in range(85)]
        near = [county.household(100 + n, "near_dibao", 3 if n < 5 else 2) for n in range(9)]
        figures = county.call("GET", "needs", "/stats", params={"station": COUNTY}, headers=HUB)
        assert figures["households_by_hardship"].get("dibao") == 85
        assert figures["households_by_hardship"].get("near_dibao") == 9
        assert figures["persons"] == 146 + 23

        # Medical aid: reviewed by 医保 and 民政, then delivered.
        need = county.need(dibao[0], "medical.bill_assistance", urgency=4)
        referral = county.refer(need, fund)
        assert referral["review_departments"] == ["medical_insurance", "civil_affairs"]
        assert county.deliver(referral, "东区慈善会")["state"] == "completed"
        assert county.call("GET", "needs", f"/needs/{need}")["status"] == "met"

        # Tuition at the education bureau's desk: reviewed by education, not civil affairs.
        need = county.need(near[0], "education.tuition")
        referral = county.refer(need, bureau)
        assert referral["review_departments"] == ["education"]
        civil = county.call(
            "GET", "needs", "/referrals/review-queue", headers=reviewer("civil_affairs")
        )
        assert referral["id"] not in [r["id"] for r in civil["items"]]
        county.deliver(referral, "东区教育局")

        # A station's counselling goes straight to the station.
        need = county.need(dibao[1], "psychological.counselling")
        referral = county.refer(need, stations[1])
        assert (referral["state"], referral["review_reasons"]) == ("sent", [])
        county.deliver(referral, "东区第2社工站")

        # Meals: the canteen with one place left says it has none; the next is offered.
        taken = county.need(dibao[2], "elderly_care.meals")
        county.deliver(county.refer(taken, meals), "爱心食堂")
        need = county.need(dibao[3], "elderly_care.meals")
        assert meals not in county.matches(need), "a full canteen is no match"

        # A micro-wish claimed by two givers at the same moment: one claim.
        wish = county.need(dibao[4], "micro_wish.goods", description="想要一个新书包")
        answers: dict[str, int] = {}
        barrier = threading.Barrier(2)

        def claim(resource_id: str, organization: str) -> None:
            with httpx.Client(timeout=30) as own:
                barrier.wait()
                body = {
                    "resource_id": resource_id,
                    "resource_name": organization,
                    "resource_kind": "enterprise",
                }
                url = f"{stack.url('needs')}/needs/{wish}/claims"
                answers[organization] = own.post(
                    url, json=body, headers=coordinator(organization)
                ).status_code

        threads = [
            threading.Thread(target=claim, args=(rid, org))
            for rid, org in zip(wish_givers, ["钢城超市", "攀枝花文具店"], strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(answers.values()) == [201, 409], answers

        # An explicit decline for no capacity offers the next feasible match.
        referral = county.refer(need, spare_meals)
        declined = county.act(
            referral["id"], "decline", coordinator("颐养餐厅"), {"reason": "no_capacity"}
        )
        assert declined["state"] == "declined"
        assert spare_meals not in county.matches(need)

        # Lists answer bad input with 422; every timestamp seen carries its offset.
        bogus = client.get(
            f"{stack.url('needs')}/referrals", params={"state": "bogus"}, headers=HUB
        )
        assert bogus.status_code == 422
    naive = [
        value
        for answer in county.answers
        for _, value in timestamps(answer)
        if not WITH_OFFSET.search(value)
    ]
    assert naive == []

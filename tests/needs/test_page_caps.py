"""Every list of the needs service answers one page: `limit` (a default, and a cap from
settings) and `offset`; a page larger than the cap is a 422 naming `limit`, never a 500 or an
unbounded answer."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from shared.clock import china_today
from tests.needs.conftest import active_case, new_household, new_person, problems
from tests.support.factories import resident_id

CAP = 3


@pytest.fixture
def capped(make_client: Callable[..., TestClient]) -> TestClient:
    """The needs app with pages of at most CAP."""
    return make_client(page_size_max=CAP)


def _due_cases(client: TestClient, household_id: str, count: int) -> list[str]:
    """`count` active tier-1 cases, each last visited `i` weeks ago."""
    ids = []
    for i in range(count):
        person = active_case(
            client, household_id, name=f"人{i}", resident_id=resident_id(serial=f"{i:03d}"), tier=1
        )
        visit = {
            "visited_on": (china_today() - timedelta(days=7 * i)).isoformat(),
            "social_worker": "李",
        }
        assert client.post(f"/persons/{person['id']}/visits", json=visit).status_code == 201
        ids.append(person["id"])
    return ids


def test_visits_due_answer_one_page_and_count_them_all(capped: TestClient) -> None:
    household = new_household(capped)
    ids = _due_cases(capped, household["id"], 5)
    station = {"station": household["station_adcode"]}
    first = capped.get("/visits/due", params=station).json()
    assert (first["total"], first["limit"], first["offset"]) == (5, CAP, 0)
    assert (first["overdue"], first["upcoming"]) == (3, 2)  # due today is not overdue yet
    # Soonest first: the case visited longest ago is the most overdue.
    assert [v["person_id"] for v in first["visits"]] == ids[::-1][:CAP]
    rest = capped.get("/visits/due", params={**station, "limit": CAP, "offset": CAP}).json()
    assert [v["person_id"] for v in rest["visits"]] == ids[::-1][CAP:]
    assert (rest["total"], rest["offset"]) == (5, CAP)


@pytest.mark.parametrize(
    "path",
    [
        "/households/{household}/persons",
        "/persons/{person}/visits",
        "/visits/due?station=511523101",
        "/needs/{need}/history",
        "/access-log",
    ],
)
def test_every_list_refuses_a_page_over_the_cap(capped: TestClient, path: str) -> None:
    household = new_household(capped)
    person = new_person(capped, household["id"])
    need = capped.post(
        "/needs", json={"household_id": household["id"], "category": "elderly_care.meals"}
    )
    assert need.status_code == 201, need.text
    url = path.format(household=household["id"], person=person["id"], need=need.json()["id"])
    sep = "&" if "?" in url else "?"
    assert capped.get(f"{url}{sep}limit={CAP}").status_code == 200
    over = capped.get(f"{url}{sep}limit={CAP + 1}")
    assert problems(over) == {("limit", "less_than_equal")}
    assert str(CAP) in over.json()["errors"][0]["message"]
    assert problems(capped.get(f"{url}{sep}limit=0")) == {("limit", "greater_than_equal")}
    assert problems(capped.get(f"{url}{sep}offset=-1")) == {("offset", "greater_than_equal")}
    assert problems(capped.get(f"{url}{sep}offset={2**31}")) == {("offset", "less_than_equal")}


def test_lists_page_through_persons_visits_and_history(capped: TestClient) -> None:
    household = new_household(capped)
    for i in range(4):
        new_person(
            capped, household["id"], name=f"人{i}", resident_id=resident_id(serial=f"{i:03d}")
        )
    url = f"/households/{household['id']}/persons"
    pages = [capped.get(url, params={"offset": o}).json() for o in (0, CAP)]
    assert [len(p) for p in pages] == [CAP, 1]
    assert len({p["id"] for page in pages for p in page}) == 4

    person = active_case(
        capped, household["id"], name="王五", resident_id=resident_id(serial="101")
    )
    for days_ago in (3, 2, 1, 0):
        visit = {
            "visited_on": (china_today() - timedelta(days=days_ago)).isoformat(),
            "social_worker": "李",
        }
        capped.post(f"/persons/{person['id']}/visits", json=visit)
    visits = capped.get(f"/persons/{person['id']}/visits", params={"limit": 2, "offset": 1}).json()
    assert [v["visited_on"] for v in visits] == [
        (china_today() - timedelta(days=1)).isoformat(),
        (china_today() - timedelta(days=2)).isoformat(),
    ]

    need = capped.post(
        "/needs", json={"household_id": household["id"], "category": "elderly_care.meals"}
    )
    need_id = need.json()["id"]
    for status in ("matching", "open", "withdrawn"):
        capped.post(f"/needs/{need_id}/status", json={"status": status})
    history = capped.get(f"/needs/{need_id}/history", params={"offset": 2}).json()
    assert [h["to_status"] for h in history] == ["open", "withdrawn"]

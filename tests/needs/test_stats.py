"""A station's figures (`GET /stats`), counted as the seed reports count them."""

from datetime import timedelta

from fastapi.testclient import TestClient

from shared.clock import china_today
from tests.needs.conftest import active_case, new_household, new_person, problems
from tests.support.factories import resident_id


def test_station_figures_count_files_visits_needs_links_and_outcomes(client: TestClient) -> None:
    a = new_household(client, hardship_categories=["低保"])
    b = new_household(client, hardship_categories=["特困", "临时救助"], address="江安县y")
    elsewhere = new_household(client, adcode="511524", station_adcode="511524100", address="长宁县")
    p1 = active_case(client, a["id"], tier=1, groups=["独居老人"])
    p2 = active_case(client, b["id"], tier=3, resident_id=resident_id(serial="005"))
    new_person(
        client, b["id"], name="李四", resident_id=resident_id(serial="007"), groups=["留守儿童"]
    )
    gone = active_case(client, a["id"], tier=2, resident_id=resident_id(serial="009"))
    client.post(
        f"/persons/{gone['id']}/status", json={"status": "exited", "exit_reason": "deceased"}
    )
    active_case(client, elsewhere["id"], tier=1, resident_id=resident_id(serial="011"))
    for person, days_ago in ((p1, 3), (p1, 40), (p2, 5)):
        body = {
            "visited_on": (china_today() - timedelta(days=days_ago)).isoformat(),
            "social_worker": "李",
        }
        assert client.post(f"/persons/{person['id']}/visits", json=body).status_code == 201
    needs = []
    for household, category in (
        (a, "elderly_care.meals"),
        (a, "medical.clinic"),
        (b, "elderly_care.meals"),
    ):
        body = {"household_id": household["id"], "category": category}
        needs.append(client.post("/needs", json=body).json()["id"])
    client.post("/needs", json={"household_id": elsewhere["id"], "category": "medical.clinic"})
    for status in ("referred", "in_service", "met"):
        client.post(f"/needs/{needs[0]}/status", json={"status": status})
    client.post(f"/needs/{needs[1]}/status", json={"status": "referred"})
    client.post(f"/needs/{needs[2]}/status", json={"status": "withdrawn"})

    since = (china_today() - timedelta(days=30)).isoformat()
    response = client.get("/stats", params={"station": "511523101", "since": since})
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["households"] == 2
    assert stats["households_by_hardship"] == {"dibao": 1, "tekun": 1, "temporary_assistance": 1}
    assert stats["persons"] == 3
    assert stats["persons_by_case_status"] == {"active": 2, "applied": 1, "exited": 1}
    assert stats["persons_by_tier"] == {"1": 1, "3": 1, "unassessed": 1}
    assert stats["persons_by_group"] == {"elderly_living_alone": 1, "left_behind_child": 1}
    assert (stats["visits"], stats["households_visited"]) == (2, 2)
    assert stats["needs"] == 3
    assert stats["needs_by_status"] == {"met": 1, "referred": 1, "withdrawn": 1}
    assert stats["needs_by_category"] == {"elderly_care.meals": 2, "medical.clinic": 1}
    assert stats["links_made"] == 2
    assert stats["outcomes"] == {"closed_unmet": 0, "met": 1, "withdrawn": 1}
    county = client.get("/stats", params={"station": "5115"}).json()
    assert (county["households"], county["needs"]) == (3, 4)


def test_stats_need_a_station(client: TestClient) -> None:
    assert problems(client.get("/stats")) == {("station", "missing")}

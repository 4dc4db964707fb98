"""Lists of households, persons and needs (issue 16): filters, totals, sorting, the area of
the caller, look-ups through the blind index, and edits with If-Match and a history."""

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient

from shared.clock import china_today
from tests.auth import bearer
from tests.needs.conftest import active_case, new_household, new_person
from tests.support.factories import JIANGAN_TOWN, resident_id

OTHER_TOWN = "511523105"  # 留耕镇, same county


def _ids(response: object) -> list[str]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"items", "total", "limit", "offset"}, body
    return [item["id"] for item in body["items"]]


def test_lists_filter_count_and_stay_in_the_callers_area(client: TestClient) -> None:
    poor = new_household(client, hardship_categories=["低保"])
    near = new_household(client, hardship_categories=["低保边缘"])
    elsewhere = new_household(
        client, adcode=OTHER_TOWN, station_adcode=OTHER_TOWN, hardship_categories=["特困"]
    )
    alone = active_case(client, poor["id"], groups=["独居老人"], tier=1)
    new_person(client, near["id"], name="李四", resident_id=resident_id(serial="005"))
    need = client.post(
        "/needs", json={"household_id": poor["id"], "category": "elderly_care.meals"}
    )
    assert need.status_code == 201

    assert _ids(client.get("/households", params={"hardship": "低保"})) == [poor["id"]]
    assert _ids(client.get("/households", params={"group": "独居老人"})) == [poor["id"]]
    assert _ids(client.get("/households", params={"open_needs": True})) == [poor["id"]]
    assert set(_ids(client.get("/households", params={"open_needs": False}))) == {
        near["id"],
        elsewhere["id"],
    }
    oldest = client.get("/households", params={"sort": "created_at", "limit": 1})
    assert _ids(oldest) == [poor["id"]] and oldest.json()["total"] == 3
    assert client.get("/households", params={"sort": "name"}).status_code == 422
    assert _ids(client.get("/persons", params={"tier": 1, "case_status": "active"})) == [
        alone["id"]
    ]
    assert _ids(client.get("/needs", params={"category": "elderly_care"})) == [need.json()["id"]]
    assert client.get("/needs", params={"status": "bogus"}).status_code == 422
    assert client.get("/referrals", params={"state": "bogus"}).status_code == 422

    station = bearer("social_worker", adcode=JIANGAN_TOWN)
    mine = client.get("/households", headers=station)
    assert elsewhere["id"] not in _ids(mine) and mine.json()["total"] == 2
    number = resident_id(serial="005")
    found = client.post("/persons/search", json={"resident_id": number}, headers=station)
    assert found.status_code == 200 and found.json()["total"] == 1
    other = bearer("social_worker", adcode=OTHER_TOWN)
    assert (
        client.post("/persons/search", json={"resident_id": number}, headers=other).json()["total"]
        == 0
    )
    bad = client.post("/persons/search", json={"resident_id": "123"})
    assert bad.status_code == 422


def test_visit_filters_agree_with_the_due_list(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    home = new_household(client)
    overdue = active_case(client, home["id"], tier=1)
    fresh = active_case(client, home["id"], name="李四", resident_id=resident_id(serial="005"))
    for person, days in ((overdue, 30), (fresh, 1)):
        visit = {"visited_on": (china_today() - timedelta(days=days)).isoformat(), "tier": 1}
        assert client.post(f"/persons/{person['id']}/visits", json=visit).status_code == 201
    assert _ids(client.get("/persons", params={"visit": "overdue"})) == [overdue["id"]]
    due = client.get("/visits/due", params={"station": JIANGAN_TOWN}).json()
    listed = client.get("/persons", params={"visit": "due", "limit": 200})
    assert {v["person_id"] for v in due["visits"]} == set(_ids(listed))


def test_an_edit_needs_the_current_version_and_is_kept_in_the_history(
    client: TestClient,
) -> None:
    home = new_household(client)
    person = new_person(client, home["id"])
    read = client.get(f"/persons/{person['id']}")
    assert read.headers["ETag"] == f'"{person["version"]}"'
    changed = client.patch(
        f"/persons/{person['id']}",
        json={"groups": ["残疾人"], "disability_grade": 2},
        headers={"If-Match": read.headers["ETag"]},
    )
    assert changed.status_code == 422  # sensitive data needs its own consent first
    assert client.get(f"/persons/{person['id']}/history").json()["total"] == 0
    other = new_household(client, address="江安县江安镇红星村9组")
    moved = client.patch(
        f"/persons/{person['id']}",
        json={"household_id": other["id"], "phone": "13800001234"},
        headers={"If-Match": read.headers["ETag"]},
    )
    assert moved.status_code == 200, moved.text
    again = client.patch(
        f"/persons/{person['id']}",
        json={"name": "张三丰"},
        headers={"If-Match": read.headers["ETag"]},
    )
    assert again.status_code == 412
    [change] = client.get(f"/persons/{person['id']}/history").json()["items"]
    assert change["fields"] == ["household_id", "phone"] and change["source"] == "api"
    assert "13800001234" not in str(change)
    same = client.patch(f"/households/{home['id']}", json={"address": home["address"]})
    assert same.json()["version"] == home["version"]  # nothing changed, nothing recorded
    assert client.get(f"/households/{home['id']}/history").json()["total"] == 0


def test_a_household_that_moves_takes_its_open_needs_along(client: TestClient) -> None:
    home = new_household(client)
    need = client.post(
        "/needs", json={"household_id": home["id"], "category": "elderly_care.meals"}
    ).json()
    moved = client.patch(
        f"/households/{home['id']}",
        json={
            "adcode": OTHER_TOWN,
            "station_adcode": OTHER_TOWN,
            "location": {"lat": 28.8, "lon": 105.1},
        },
    )
    assert moved.status_code == 200, moved.text
    after = client.get(f"/needs/{need['id']}").json()
    assert (after["adcode"], after["lat"], after["lon"]) == (OTHER_TOWN, 28.8, 105.1)
    assert after["version"] == need["version"] + 1
    [change] = client.get(f"/households/{home['id']}/history").json()["items"]
    assert change["fields"] == ["adcode", "lat", "lon", "station_adcode"]

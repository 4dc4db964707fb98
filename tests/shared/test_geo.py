import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import geo


def test_haversine_beijing_to_shanghai_is_about_1068_km() -> None:
    assert geo.haversine_km(39.9042, 116.4074, 31.2304, 121.4737) == pytest.approx(1067.3, abs=2)


def test_haversine_of_a_point_to_itself_is_zero() -> None:
    assert geo.haversine_km(28.7, 105.0, 28.7, 105.0) == 0.0


@pytest.mark.parametrize(
    ("lat", "lon", "field"), [(91, 100, "lat"), (-90.5, 100, "lat"), (30, 181, "lon")]
)
def test_out_of_range_coordinates_name_the_field(lat: float, lon: float, field: str) -> None:
    problem = geo.lat_lon_problem(lat, lon)
    assert problem is not None and problem[0] == field and problem[1] == "range"


def test_china_bounds() -> None:
    assert geo.in_china(28.72, 105.07)
    assert not geo.in_china(48.85, 2.35)


@given(st.floats(20, 45), st.floats(80, 130))
def test_gcj02_round_trip_is_within_a_metre(lat: float, lon: float) -> None:
    glat, glon = geo.wgs84_to_gcj02(lat, lon)
    back = geo.gcj02_to_wgs84(glat, glon)
    assert geo.haversine_km(lat, lon, *back) < 0.001


def test_gcj02_offset_is_hundreds_of_metres_in_china() -> None:
    glat, glon = geo.wgs84_to_gcj02(28.7239, 105.0669)
    assert 0.1 < geo.haversine_km(28.7239, 105.0669, glat, glon) < 1.0


@given(st.floats(20, 45), st.floats(80, 130))
def test_bd09_round_trip_is_within_a_few_metres(lat: float, lon: float) -> None:
    bd = geo.gcj02_to_bd09(*geo.wgs84_to_gcj02(lat, lon))
    back = geo.to_wgs84(*bd, geo.Crs.BD09)
    assert geo.haversine_km(lat, lon, *back) < 0.005

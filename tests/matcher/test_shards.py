"""A shard's search window never loses a resource within reach, anywhere on Earth: near the
poles, across the antimeridian, near the antipode and at every radius class (hypothesis,
against haversine)."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.matcher.columns import RADIUS_CLASSES_KM, Columns
from services.matcher.ranking import rank_resources
from services.matcher.shards import Shard, Window
from shared.geo import EARTH_RADIUS_KM, haversine_km
from tests.matcher.factories import PARAMS, index_of, request, state

HALF_CIRCUMFERENCE_KM = math.pi * EARTH_RADIUS_KM
# Every class, and reaches just short of the antipode.
REACHES_KM = [*RADIUS_CLASSES_KM, HALF_CIRCUMFERENCE_KM - 5, HALF_CIRCUMFERENCE_KM - 0.01]

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    centre=st.tuples(latitudes, longitudes),
    spread=st.sampled_from([0.01, 0.5, 5.0, 90.0]),
    offsets=st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1)), min_size=1, max_size=40),
    reach_km=st.sampled_from(REACHES_KM),
    limit=st.floats(min_value=0.001, max_value=1.0),
)
def test_the_window_holds_every_member_within_reach(
    centre: tuple[float, float],
    spread: float,
    offsets: list[tuple[float, float]],
    reach_km: float,
    limit: float,
) -> None:
    columns = Columns()
    points = [
        (
            float(np.clip(centre[0] + dy * spread, -90, 90)),
            float((centre[1] + dx * spread * 2 + 180) % 360 - 180),
        )
        for dy, dx in offsets
    ]
    query = points[0]
    within = limit * reach_km
    # And points just inside the reach, all around the query: the window's edges (or, when
    # the reach is beyond half the circumference, points around the antipode).
    edge = min(within, HALF_CIRCUMFERENCE_KM)
    points += [
        _destination(query, edge * inside, bearing)
        for inside in (0.999, 1 - 1e-7)
        for bearing in range(0, 360, 15)
    ]
    for i, (lat, lon) in enumerate(points):
        columns.write(columns.new_slot(f"r{i}"), state(f"r{i}", lat=lat, lon=lon))
    shard = Shard(reach_km=reach_km)
    shard.rebuild(columns.rows, members=np.arange(len(points), dtype=np.int64))
    found = set(shard.candidates(columns.rows, Window.around(*query, within)).tolist())
    for slot, (lat, lon) in enumerate(points):
        if haversine_km(query[0], query[1], lat, lon) <= within:
            assert slot in found, (query, (lat, lon), within)


def test_a_radius_beyond_the_largest_class_reaches_the_antipode() -> None:
    index = index_of(state("wide", lat=0.0, lon=0.0, radius_km=30_000.0))
    index.rebuild_all()
    near_antipode = request(lat=0.01, lon=179.99)  # ~20,014 km away, beyond the last class
    ranked = rank_resources(index=index, query=near_antipode, params=PARAMS)
    assert [r.resource_id for r in ranked.results] == ["wide"]


def _destination(start: tuple[float, float], km: float, bearing_deg: float) -> tuple[float, float]:
    """The point `km` from `start` along the great circle with the given initial bearing."""
    lat1, lon1 = math.radians(start[0]), math.radians(start[1])
    angle, bearing = km / EARTH_RADIUS_KM, math.radians(bearing_deg)
    lat2 = math.asin(
        math.sin(lat1) * math.cos(angle) + math.cos(lat1) * math.sin(angle) * math.cos(bearing)
    )
    lon2 = lon1 + math.atan2(
        math.sin(bearing) * math.sin(angle) * math.cos(lat1),
        math.cos(angle) - math.sin(lat1) * math.sin(lat2),
    )
    return math.degrees(lat2), (math.degrees(lon2) + 180) % 360 - 180

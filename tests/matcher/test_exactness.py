"""The index is exact: ranking through it equals ranking every resource (a brute-force scan),
equals a scalar ranking from first principles (`reference`), and the feasible set equals an
independent NumPy scan of the same rules."""

import numpy as np
import pytest

from services.matcher.index import ResourceIndex
from services.matcher.ranking import rank_among, rank_resources
from shared.contracts.matcher import RankRequest
from shared.contracts.resources import ResourceUpserted
from shared.geo import EARTH_RADIUS_KM
from tests.matcher.factories import CENTER, PARAMS, request, state
from tests.matcher.reference import as_reference, reference_ranking

CATEGORIES = [
    "elderly_care",
    "elderly_care.meals",
    "elderly_care.home_care",
    "medical",
    "medical.clinic",
]
GROUPS = ["dibao", "tekun", "disabled"]


def random_world(seed: int, size: int) -> tuple[list[ResourceUpserted], list[RankRequest]]:
    rng = np.random.default_rng(seed)
    lats = CENTER[0] + rng.uniform(-0.8, 0.8, size)
    lons = CENTER[1] + rng.uniform(-0.8, 0.8, size)
    states = []
    for i in range(size):
        total = int(rng.integers(0, 8))
        states.append(
            state(
                f"r{i:05d}",
                categories=[str(c) for c in rng.choice(CATEGORIES, int(rng.integers(1, 3)))],
                lat=float(lats[i]),
                lon=float(lons[i]),
                radius_km=float(rng.choice([1.5, 4, 8, 12, 30, 90])) * float(rng.uniform(0.5, 1)),
                capacity_total=total,
                capacity_remaining=int(rng.integers(0, total + 1)),
                eligible_groups=[str(g) for g in rng.choice(GROUPS, int(rng.integers(0, 2)))],
                open_referrals=int(rng.integers(0, 6)),
                active=bool(rng.random() > 0.1),
                description=str(rng.choice(["助餐送餐", "居家照料", "就医陪诊", "慢病管理"])),
            )
        )
    needs = [
        request(
            category=str(rng.choice(CATEGORIES)),
            lat=CENTER[0] + float(rng.uniform(-0.8, 0.8)),
            lon=CENTER[1] + float(rng.uniform(-0.8, 0.8)),
            quantity=int(rng.integers(1, 3)),
            groups=[str(g) for g in rng.choice(GROUPS, int(rng.integers(0, 3)))],
            text=str(rng.choice(["", "送餐", "陪诊"])),
            k=100,
            max_distance_km=None if rng.random() < 0.7 else float(rng.uniform(2, 40)),
        )
        for _ in range(60)
    ]
    return states, needs


def numpy_feasible(states: list[ResourceUpserted], need: RankRequest) -> set[str]:
    """The feasible ids by a vectorised scan of every resource (no tree, no shards)."""
    lat = np.radians([s.lat for s in states])
    lon = np.radians([s.lon for s in states])
    qlat, qlon = np.radians(need.lat), np.radians(need.lon)
    a = np.sin((lat - qlat) / 2) ** 2 + np.cos(qlat) * np.cos(lat) * np.sin((lon - qlon) / 2) ** 2
    distance = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(1.0, a)))
    parent = need.category.split(".")[0]
    found = set()
    for s, d in zip(states, distance, strict=True):
        fits = any(
            c in (need.category, parent) or c.split(".")[0] == need.category for c in s.categories
        )
        if (
            s.active
            and fits
            and s.capacity_remaining >= need.quantity
            and s.radius_km is not None
            and d <= s.radius_km
            and (need.max_distance_km is None or d <= need.max_distance_km)
            and (not s.eligible_groups or set(s.eligible_groups) & set(need.groups))
        ):
            found.add(s.resource_id)
    return found


@pytest.mark.parametrize("seed", [1, 2])
def test_index_ranking_equals_brute_force_and_an_independent_numpy_scan(seed: int) -> None:
    states, needs = random_world(seed, 3000)
    index = ResourceIndex(rebuild_min_pending=16)
    index.defer_rebuilds()
    half = len(states) // 2
    for s in states[:half]:
        index.apply(s)
    index.rebuild_all()
    for s in states[half:]:  # the rest arrives live: some shards rebuilt, some pending
        index.apply(s)
    compared = 0
    for need in needs:
        fast = rank_resources(index=index, query=need, params=PARAMS)
        slow = rank_among(index=index, query=need, params=PARAMS, candidates=index.all_slots())
        assert fast.results == slow.results
        expected_top = reference_ranking(states, need, PARAMS)
        assert [as_reference(r) for r in fast.results] == expected_top
        assert fast.candidates_considered < len(index) / 4, "the index should prune most resources"
        expected = numpy_feasible(states, need)
        if len(expected) <= need.k:
            assert {r.resource_id for r in fast.results} == expected
            compared += len(expected)
    assert compared > 100, "the data should make many resources feasible"

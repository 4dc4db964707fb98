"""Properties of ranking, for any resources and any need (hypothesis): no infeasible resource
ever appears, and, all else equal, nearer, roomier and exactly matching resources rank higher."""

import math
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.matcher.index import ResourceIndex
from services.matcher.ranking import FILTERS, rank_resources
from services.matcher.reranker import Reranker
from shared import divisions, taxonomy
from shared.contracts.matcher import RankRequest
from shared.contracts.resources import ResourceUpserted
from shared.geo import haversine_km
from tests.matcher.factories import CENTER, PARAMS, index_of, north_of, request, state
from tests.matcher.reference import as_reference, reference_ranking

CATEGORIES = ["elderly_care", "elderly_care.meals", "elderly_care.home_care", "medical.clinic"]
ADCODES = ["511523", "511523101", "511524"]
GROUPS = ["dibao", "tekun", "disabled"]
UNITS = ["persons", "portions"]
TEXTS = ["", "助餐送餐", "居家照料老人", "就医陪诊", "独居老人 送餐上门"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

offsets = st.floats(min_value=-0.3, max_value=0.3, allow_nan=False)
DAY = date(2026, 11, 30)
days = st.integers(-3, 3).map(lambda n: DAY + timedelta(days=n))


@st.composite
def resource_states(draw: st.DrawFn, resource_id: str) -> ResourceUpserted:
    total = draw(st.integers(0, 6))
    return state(
        resource_id,
        version=draw(st.integers(1, 3)),
        categories=draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=2)),
        description=draw(st.sampled_from(TEXTS)),
        lat=CENTER[0] + draw(offsets),
        lon=CENTER[1] + draw(offsets),
        radius_km=draw(st.none() | st.floats(min_value=0.5, max_value=40)),
        adcodes=draw(st.lists(st.sampled_from(ADCODES), max_size=2)),
        eligible_groups=draw(st.lists(st.sampled_from(GROUPS), max_size=2)),
        capacity_total=total,
        capacity_remaining=draw(st.integers(0, total)),
        capacity_mode=draw(st.sampled_from(["capacity", "waitlist"])),
        capacity_unit=draw(st.sampled_from(UNITS)),
        open_referrals=draw(st.integers(0, 8)),
        active=draw(st.booleans()),
        available_from=draw(st.none() | days),
        available_until=draw(st.none() | days),
    )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[ResourceIndex, list[ResourceUpserted], RankRequest]:
    """An index built from generated events (some trees built, some pending) and a need."""
    count = draw(st.integers(0, 25))
    events = [draw(resource_states(f"r{draw(st.integers(0, count))}")) for _ in range(count)]
    index = ResourceIndex(rebuild_min_pending=draw(st.sampled_from([1, 4, 64])))
    split = draw(st.integers(0, len(events)))
    for event in events[:split]:
        index.apply(event)
    if draw(st.booleans()):
        index.rebuild_all()
    for event in events[split:]:
        index.apply(event)
    latest: dict[str, ResourceUpserted] = {}
    for event in events:
        if event.resource_id not in latest or event.version > latest[event.resource_id].version:
            latest[event.resource_id] = event
    query = request(
        category=draw(st.sampled_from(CATEGORIES)),
        lat=CENTER[0] + draw(offsets),
        lon=CENTER[1] + draw(offsets),
        adcode=draw(st.none() | st.sampled_from(["511523101", "511524100"])),
        quantity=draw(st.integers(1, 3)),
        unit=draw(st.sampled_from(UNITS)),
        groups=draw(st.lists(st.sampled_from(GROUPS), max_size=2)),
        text=draw(st.sampled_from(TEXTS)),
        exclude=draw(st.lists(st.sampled_from(sorted(latest) or ["none"]), max_size=2)),
        k=draw(st.integers(1, 30)),
        max_distance_km=draw(st.none() | st.floats(min_value=1, max_value=50)),
        on=draw(days),
    )
    return index, list(latest.values()), query


def violations(resource: ResourceUpserted, query: RankRequest) -> list[str]:
    """Every hard filter the resource fails for the need, checked from first principles."""
    broken = []
    distance = haversine_km(query.lat, query.lon, resource.lat, resource.lon)
    areas = set(divisions.ancestors(query.adcode)) if query.adcode else set()
    if not resource.active:
        broken.append("active")
    if not any(taxonomy.category_fit(code, query.category) for code in resource.categories):
        broken.append("category")
    if resource.capacity_unit != query.unit:
        broken.append("unit")
    if resource.capacity_remaining < query.quantity and resource.capacity_mode != "waitlist":
        broken.append("capacity")
    radius = resource.radius_km
    if not ((radius is not None and distance <= radius) or areas & set(resource.adcodes)):
        broken.append("service_area")
    if resource.eligible_groups and not set(resource.eligible_groups) & set(query.groups):
        broken.append("eligibility")
    if resource.resource_id in query.exclude:
        broken.append("not_excluded")
    assert query.on is not None
    offered_from, offered_until = resource.available_from, resource.available_until
    if (offered_from and query.on < offered_from) or (offered_until and query.on > offered_until):
        broken.append("available")
    if query.max_distance_km is not None and distance > query.max_distance_km:
        broken.append("max_distance")
    return broken


def some_reranker(coefficients: list[float]) -> Reranker:
    return Reranker(
        model_id="test",
        features=["category", "distance", "headroom", "text", "load"],
        coefficients=coefficients,
        intercept=0.0,
        trained_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
        examples=0,
        held_out_groups=0,
        ndcg5_model=1.0,
        ndcg5_hand=0.0,
    )


@SETTINGS
@given(worlds(), st.none() | st.lists(st.floats(-5, 5), min_size=5, max_size=5))
def test_no_infeasible_resource_ever_appears_and_no_feasible_one_is_missed(
    world: tuple[ResourceIndex, list[ResourceUpserted], RankRequest],
    coefficients: list[float] | None,
) -> None:
    index, latest, query = world
    reranker = some_reranker(coefficients) if coefficients else None
    reply = rank_resources(index=index, query=query, params=PARAMS, reranker=reranker)
    by_id = {r.resource_id: r for r in latest}
    for ranked in reply.results:
        assert violations(by_id[ranked.resource_id], query) == []
        assert set(ranked.explanation.filters_passed) >= set(FILTERS)
        assert (ranked.explanation.reranker is not None) == (reranker is not None)
    feasible = {r.resource_id for r in latest if not violations(r, query)}
    assert len(reply.results) == min(query.k, len(feasible))
    assert {r.resource_id for r in reply.results} <= feasible
    if reranker is None:
        scores = [r.score for r in reply.results]
        assert scores == sorted(scores, reverse=True)
        assert [as_reference(r) for r in reply.results] == reference_ranking(latest, query, PARAMS)


@SETTINGS
@given(
    near=st.floats(min_value=0, max_value=20),
    gap=st.floats(min_value=0.01, max_value=10),
    near_id=st.sampled_from(["a", "b"]),
)
def test_all_else_equal_nearer_ranks_higher(near: float, gap: float, near_id: str) -> None:
    far_id = "b" if near_id == "a" else "a"
    index = index_of(
        state(near_id, lat=north_of(near)[0], radius_km=40),
        state(far_id, lat=north_of(near + gap)[0], radius_km=40),
    )
    results = rank_resources(index=index, query=request(), params=PARAMS).results
    assert [r.resource_id for r in results] == [near_id, far_id]
    assert (
        results[0].explanation.components["distance"]
        > results[1].explanation.components["distance"]
    )


@SETTINGS
@given(
    total=st.integers(min_value=2, max_value=1000),
    data=st.data(),
    roomy_id=st.sampled_from(["a", "b"]),
)
def test_all_else_equal_more_headroom_ranks_higher(
    total: int, data: st.DataObject, roomy_id: str
) -> None:
    quantity = data.draw(st.integers(1, total - 1))
    tight = data.draw(st.integers(quantity, total - 1))
    roomy = data.draw(st.integers(tight + 1, total))
    tight_id = "b" if roomy_id == "a" else "a"
    index = index_of(
        state(roomy_id, capacity_total=total, capacity_remaining=roomy),
        state(tight_id, capacity_total=total, capacity_remaining=tight),
    )
    results = rank_resources(index=index, query=request(quantity=quantity), params=PARAMS).results
    assert [r.resource_id for r in results] == [roomy_id, tight_id]


@SETTINGS
@given(
    need=st.sampled_from([c for c in taxonomy.CATEGORIES.values() if c.parent]),
    exact_id=st.sampled_from(["a", "b"]),
    distance=st.floats(min_value=0, max_value=9),
)
def test_all_else_equal_exact_category_ranks_above_parent_category(
    need: taxonomy.Category, exact_id: str, distance: float
) -> None:
    parent_id = "b" if exact_id == "a" else "a"
    lat = north_of(distance)[0]
    index = index_of(
        state(exact_id, categories=[need.code], lat=lat),
        state(parent_id, categories=[need.parent], lat=lat),
    )
    results = rank_resources(index=index, query=request(category=need.code), params=PARAMS).results
    assert [r.resource_id for r in results] == [exact_id, parent_id]
    assert [r.explanation.category_offered for r in results] == [need.code, need.parent]
    assert math.isclose(results[0].distance_km, results[1].distance_km)

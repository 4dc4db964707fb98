"""The index follows the resources stream one event at a time, without rebuilding everything."""

from services.matcher.index import ResourceIndex
from services.matcher.ranking import rank_resources
from shared.contracts.matcher import RankReply
from tests.matcher.factories import PARAMS, index_of, north_of, request, state


def ids(reply: RankReply) -> list[str]:
    return [r.resource_id for r in reply.results]


def rebuild_counts(index: ResourceIndex) -> dict[tuple[str, float], int]:
    return {
        (code, reach): shard.rebuilds
        for code, by_reach in index.shards.items()
        for reach, shard in by_reach.items()
    }


def test_a_new_resource_is_ranked_at_once_without_a_tree_rebuild() -> None:
    index = index_of(state("old"))
    index.rebuild_all()
    before = rebuild_counts(index)
    assert index.apply(state("new", lat=north_of(1)[0]))
    assert ids(rank_resources(index=index, query=request(), params=PARAMS)) == ["old", "new"]
    assert rebuild_counts(index) == before


def test_a_moved_resource_is_found_at_its_new_place_only() -> None:
    index = index_of(state("r1"))
    index.rebuild_all()
    far_lat, far_lon = north_of(50)
    assert index.apply(state("r1", version=2, lat=far_lat, lon=far_lon))
    assert ids(rank_resources(index=index, query=request(), params=PARAMS)) == []
    there = rank_resources(index=index, query=request(lat=far_lat, lon=far_lon), params=PARAMS)
    assert ids(there) == ["r1"]
    assert there.results[0].distance_km == 0.0


def test_a_capacity_change_decides_whether_it_is_ranked() -> None:
    index = index_of(state("r1", capacity_remaining=0))
    assert ids(rank_resources(index=index, query=request(), params=PARAMS)) == []
    index.apply(state("r1", version=2, capacity_remaining=4))
    reply = rank_resources(index=index, query=request(quantity=3), params=PARAMS)
    assert [(r.resource_id, r.capacity_remaining) for r in reply.results] == [("r1", 4)]
    assert ids(rank_resources(index=index, query=request(quantity=5), params=PARAMS)) == []


def test_a_waitlist_resource_is_ranked_when_full() -> None:
    index = index_of(state("r1", capacity_remaining=0, capacity_mode="waitlist"))
    assert ids(rank_resources(index=index, query=request(), params=PARAMS)) == ["r1"]


def test_a_deactivated_resource_is_never_ranked_until_reactivated() -> None:
    index = index_of(state("r1"), state("r2"))
    index.rebuild_all()
    index.apply(state("r1", version=2, active=False))
    assert ids(rank_resources(index=index, query=request(), params=PARAMS)) == ["r2"]
    assert len(index) == 2, "an inactive resource is still remembered, for its version"
    index.apply(state("r1", version=3, active=True))
    assert ids(rank_resources(index=index, query=request(), params=PARAMS)) == ["r1", "r2"]


def test_stale_and_repeated_versions_are_ignored() -> None:
    index = index_of(state("r1", version=3, capacity_remaining=7))
    assert not index.apply(state("r1", version=2, capacity_remaining=1))
    assert not index.apply(state("r1", version=3, capacity_remaining=1))
    assert index.applied == 1
    assert (found := index.get("r1")) is not None and found.capacity_remaining == 7
    assert index.text.documents == 1


def test_a_small_change_rebuilds_no_tree_and_many_rebuild_only_their_shard() -> None:
    meals = [state(f"m{i}", lat=north_of(i * 0.1)[0]) for i in range(40)]
    legal = [state(f"l{i}", categories=["legal_aid"]) for i in range(40)]
    index = index_of(*meals, *legal, rebuild_fraction=0.1, rebuild_min_pending=8)
    index.rebuild_all()
    before = rebuild_counts(index)
    index.apply(state("m0", version=2, capacity_remaining=3))
    assert rebuild_counts(index) == before
    for i in range(1, 8):
        index.apply(state(f"m{i}", version=2, capacity_remaining=3))
    after = rebuild_counts(index)
    assert after[("elderly_care.meals", 10.0)] == before[("elderly_care.meals", 10.0)] + 1
    assert after[("legal_aid", 10.0)] == before[("legal_aid", 10.0)]


def test_a_deferred_index_builds_each_tree_once_and_ranks_the_same_before_and_after() -> None:
    index = ResourceIndex(rebuild_min_pending=4)
    index.defer_rebuilds()
    for i in range(30):
        index.apply(state(f"r{i:02d}", lat=north_of(i * 0.3)[0], capacity_remaining=1 + i % 10))
    assert all(n == 0 for n in rebuild_counts(index).values())
    pending_only = rank_resources(index=index, query=request(k=50), params=PARAMS)
    index.rebuild_all()
    assert all(n == 1 for n in rebuild_counts(index).values())
    with_trees = rank_resources(index=index, query=request(k=50), params=PARAMS)
    assert len(with_trees.results) == 30
    assert with_trees.results == pending_only.results


def test_text_frequencies_follow_a_changed_description() -> None:
    index = index_of(state("r1", description="助餐"), state("r2", description="送餐上门"))
    query = request(text="法律咨询")
    assert (
        rank_resources(index=index, query=query, params=PARAMS)
        .results[0]
        .explanation.components["text"]
        == 0.0
    )
    index.apply(state("r1", version=2, description="法律咨询与助餐"))
    top = rank_resources(index=index, query=query, params=PARAMS).results[0]
    assert top.resource_id == "r1"
    assert top.explanation.components["text"] > 0.2
    index.apply(state("r1", version=3, description="助餐"))
    assert index.text.df["法律"] == 0


def test_a_resource_serving_whole_divisions_is_found_by_adcode_not_by_distance() -> None:
    far_lat, far_lon = north_of(80)
    index = index_of(state("dept", radius_km=None, adcodes=["511523"], lat=far_lat, lon=far_lon))
    index.rebuild_all()
    inside = rank_resources(index=index, query=request(adcode="511523101"), params=PARAMS)
    assert ids(inside) == ["dept"]
    assert ids(rank_resources(index=index, query=request(adcode="511524101"), params=PARAMS)) == []
    assert ids(rank_resources(index=index, query=request(), params=PARAMS)) == []


def test_a_waitlist_resource_takes_a_quantity_beyond_any_capacity() -> None:
    index = index_of(state("r1", capacity_remaining=0, capacity_mode="waitlist"))
    reply = rank_resources(index=index, query=request(quantity=2**70), params=PARAMS)
    assert ids(reply) == ["r1"]
    assert reply.results[0].explanation.components["headroom"] == 0.0


def held(index: ResourceIndex) -> list[object]:
    """Everything the index holds of each resource, in slot order."""
    columns = index.columns
    return [
        (resource_id, columns.names[slot], columns.rows[slot].tolist())
        for resource_id, slot in sorted(columns.slots.items(), key=lambda item: item[1])
    ]


def test_batches_with_repeats_or_known_resources_hold_what_one_by_one_holds() -> None:
    first = [state(f"r{i:04d}", lat=north_of(i * 0.01)[0]) for i in range(1500)]
    repeat = [state("n1"), state("n2"), state("n1", version=2, capacity_remaining=1)]
    known = [state("n3"), state("r0007", version=2, active=False), state("n4")]
    bulk, single = ResourceIndex(), index_of(*first, *repeat, *known)
    for batch in (first[:700], first[700:], repeat, known):  # grows past 1,024 records
        bulk.apply_many(list(batch))
    assert len(bulk) == len(single) == 1504
    assert held(bulk) == held(single)
    assert ids(rank_resources(index=bulk, query=request(k=20), params=PARAMS)) == ids(
        rank_resources(index=single, query=request(k=20), params=PARAMS)
    )

"""The replay's bulk path (`ResourceIndex.apply_many` while rebuilds are deferred) holds exactly
what taking the states in one by one holds: the records, the shared tables in their order, the
division lists built when caught up."""

from pydantic import ValidationError

from services.matcher.columns import Strings
from services.matcher.decode import ResourceState, decode_many
from services.matcher.index import ResourceIndex
from services.matcher.ranking import rank_resources
from shared.contracts.resources import ResourceUpserted
from tests.matcher.factories import PARAMS, index_of, north_of, request, state


def test_the_bulk_decoder_reads_the_fields_in_the_contracts_order() -> None:
    # msgspec looks for each key from the field after the last one found: in another order
    # every message costs several compares per key.
    assert ResourceState.__struct_fields__ == tuple(ResourceUpserted.model_fields)


def varied(count: int, prefix: str = "v") -> list[ResourceUpserted]:
    """States sharing their lists, units, kinds and modes in many combinations."""
    return [
        state(
            f"{prefix}{i:03d}",
            lat=north_of(i * 0.05)[0],
            categories=[["elderly_care.meals"], ["legal_aid"], ["legal_aid", "basic_living"]][
                i % 3
            ],
            adcodes=[[], ["511523"], ["511523", "511524"], [f"5115{i % 7:02d}"]][i % 4],
            eligible_groups=[[], ["elderly"]][i % 2],
            capacity_unit=["persons", "meals"][i % 5 == 0],
            kind=["enterprise", "department", "charity", "volunteer"][(i + i // 3) % 4],
            capacity_mode=["capacity", "waitlist"][i % 6 == 0],
            radius_km=None if i % 4 == 1 else 3.0 + i % 9,
            active=i % 13 != 4,
        )
        for i in range(count)
    ]


def held(index: ResourceIndex) -> tuple[object, ...]:
    cols = index.columns
    return cols.in_use().tobytes(), cols.ids, cols.tables(), index.by_adcode


def test_batches_of_either_decoder_hold_what_one_by_one_holds() -> None:
    states = varied(120)
    decoded = decode_many([s.model_dump_json().encode() for s in states])
    fast = [d for d in decoded if not isinstance(d, ValidationError)]
    assert all(isinstance(d, ResourceState) for d in fast) and len(fast) == 120
    one_by_one, bulk = ResourceIndex(), ResourceIndex()
    one_by_one.defer_rebuilds()
    bulk.defer_rebuilds()
    for s in states:
        one_by_one.apply(s)
    # batches of states msgspec decoded and of states pydantic decoded (lists, not tuples)
    for batch in (fast[:50], states[50:90], fast[90:]):
        assert bulk.apply_many(list(batch)) == len(batch)
    for index in (one_by_one, bulk):
        index.rebuild_all()
    assert held(bulk) == held(one_by_one)
    assert len(bulk.columns.categories) == 3 and len(bulk.columns.adcodes) == 10


def test_division_lists_built_when_caught_up_are_those_kept_change_by_change() -> None:
    first = varied(60)
    changes = [
        state("v001", version=2, adcodes=["511599"]),  # serves another division
        state("v002", version=2, active=False, adcodes=["511523"]),  # leaves
        state("v004", version=2, active=True, adcodes=["511523"]),  # back (v004 was inactive)
        state("v005", version=2, categories=["basic_living"], adcodes=["511524"]),
        state("n01", categories=["legal_aid"], adcodes=["511523"]),  # new
    ]
    live = index_of(*first, *changes)  # shards and division lists kept change by change
    replayed = ResourceIndex()
    replayed.defer_rebuilds()
    replayed.apply_many(first)
    for change in changes:
        replayed.apply(change)
    assert replayed.by_adcode == {}, "nothing is linked before it is caught up"
    replayed.rebuild_all()
    kept = {key: slots for key, slots in live.by_adcode.items() if slots}
    assert replayed.by_adcode == kept
    assert len(kept) > 5
    for query in (
        request(category="legal_aid", adcode="511523101", lat=north_of(300)[0], k=50),
        request(category="basic_living", adcode="511524", k=50),
        request(adcode="511503", k=50),
    ):
        got = rank_resources(index=replayed, query=query, params=PARAMS).results
        want = rank_resources(index=live, query=query, params=PARAMS).results
        assert [(r.resource_id, r.score) for r in got] == [(r.resource_id, r.score) for r in want]
        assert want, "a request that ranks nothing proves little"


def test_names_taken_in_together_read_back_whole_even_holding_a_nul() -> None:
    names = Strings()
    names.extend([])
    names.extend(["爱心助餐点", "", "a\ud800b"])  # one encoding, split at the NULs joining them
    names.extend(["x\0y", "z", ""])  # a NUL of its own: each encoded alone
    names.append("志愿服务队")
    assert [names[i] for i in range(len(names))] == [
        "爱心助餐点", "", "a\ud800b", "x\0y", "z", "", "志愿服务队"
    ]  # fmt: skip
    held = "爱心助餐点a\ud800bx\0yz志愿服务队".encode("utf-8", "surrogatepass")
    assert names.nbytes() == len(held) + 12 * 7  # no byte of the NULs joining them

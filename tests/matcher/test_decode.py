"""The bulk decoder accepts a resource state exactly when the contract (pydantic) does, reads
the same values, and names the broken field of a malformed one as pydantic would."""

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.matcher.columns import Strings
from services.matcher.decode import ResourceState, decode_many, decode_one
from services.matcher.index import ResourceIndex
from shared.consumers import malformed_reason
from shared.contracts.resources import ResourceUpserted
from tests.matcher.factories import state

FIELDS = [name for name in ResourceUpserted.model_fields if name in ResourceState.__struct_fields__]


def body(**overrides: Any) -> dict[str, Any]:
    return {**json.loads(state("r1").model_dump_json()), **overrides}


def encoded(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def pydantic_or_error(message: bytes) -> ResourceUpserted | ValidationError:
    try:
        return ResourceUpserted.model_validate_json(message)
    except ValidationError as exc:
        return exc


def same_values(decoded: object, expected: ResourceUpserted) -> None:
    for name in FIELDS:
        got, want = getattr(decoded, name), getattr(expected, name)
        assert (tuple(got) if isinstance(got, list) else got) == (
            tuple(want) if isinstance(want, list) else want
        ), name


def test_every_field_the_index_reads_is_decoded_as_the_contract_reads_it() -> None:
    full = body(
        radius_km=2.5, adcodes=["510104"], eligible_groups=["elderly"], capacity_mode="waitlist",
        available_from="2026-02-01", available_until="2026-03-01", active=False, version=7,
    )  # fmt: skip
    [decoded] = decode_many([encoded(full)])
    assert isinstance(decoded, ResourceState), "the fast path took it"
    same_values(decoded, ResourceUpserted.model_validate(full))


def test_a_malformed_message_in_a_batch_is_named_and_the_others_still_decoded() -> None:
    good, bad = encoded(body()), encoded(body(lat=91))
    decoded = decode_many([good, bad, b"not json", good])
    assert [type(d) for d in decoded] == [
        ResourceState, ValidationError, ValidationError, ResourceState
    ]  # fmt: skip
    expected = pydantic_or_error(bad)
    assert isinstance(expected, ValidationError) and isinstance(decoded[1], ValidationError)
    assert malformed_reason(decoded[1]) == malformed_reason(expected)


def test_what_only_pydantic_lax_rules_accept_is_still_accepted() -> None:
    lax = body(version="3", capacity_total=5.0, updated_at=1_700_000_000)
    decoded = decode_one(encoded(lax))
    same_values(decoded, ResourceUpserted.model_validate_json(encoded(lax)))


def test_a_message_holding_two_states_is_not_split_into_the_batch() -> None:
    two = encoded(body()) + b"," + encoded(body(resource_id="r2"))
    decoded = decode_many([two, encoded(body(resource_id="r3"))])
    assert isinstance(decoded[0], ValidationError) and isinstance(decoded[1], ResourceState)


ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.lists(st.text(max_size=4), max_size=3),
    st.sampled_from(["2026-01-01", "waitlist", "charity"]),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(st.sampled_from(sorted(body())), ODD_VALUES, max_size=3))
def test_accepted_exactly_when_the_contract_accepts_with_the_same_values(
    changes: dict[str, Any],
) -> None:
    message = encoded(body(**changes))
    expected = pydantic_or_error(message)
    [decoded] = decode_many([message])
    if isinstance(expected, ValidationError):
        assert isinstance(decoded, ValidationError)
        assert malformed_reason(decoded) == malformed_reason(expected)
    else:
        assert not isinstance(decoded, ValidationError)
        same_values(decoded, expected)


def test_a_bulk_load_holds_what_one_by_one_holds() -> None:
    states = [
        state(f"b{i}", lat=28 + i / 100, name=["助餐Σ点", "", "ΑΣ", f"老人{i}"][i % 4],
              description=["为独居老人助餐送餐", "", "Σ开头 送餐", "餐点"][i // 10],
              radius_km=None if i % 3 else 1.0 + i,
              adcodes=["510104"] if i % 4 == 0 else [], active=i % 5 != 0,
              capacity_mode="waitlist" if i % 2 else "capacity", version=1 + i % 2)
        for i in range(40)
    ]  # fmt: skip
    one_by_one, bulk = ResourceIndex(), ResourceIndex()
    one_by_one.defer_rebuilds()
    bulk.defer_rebuilds()
    for s in states:
        one_by_one.apply(s)
    decoded = decode_many([s.model_dump_json().encode() for s in states])
    assert bulk.apply_many([d for d in decoded if not isinstance(d, ValidationError)]) == 40
    for index in (one_by_one, bulk):
        index.rebuild_all()
    assert bulk.columns.in_use().tobytes() == one_by_one.columns.in_use().tobytes()
    assert bulk.columns.ids == one_by_one.columns.ids
    assert bulk.by_adcode == one_by_one.by_adcode
    assert bulk.text.df == one_by_one.text.df
    assert bulk.text.documents == one_by_one.text.documents


def test_names_held_as_utf8_read_back_after_changes_and_compaction() -> None:
    names = Strings()
    names.extend(["爱心助餐点", "", "a\ud800b"])
    names.append("志愿服务队")
    for i in range(3000):  # replaced again and again: the stale bytes are dropped on the way
        names[1] = f"第{i}号"
    assert [names[i] for i in range(4)] == ["爱心助餐点", "第2999号", "a\ud800b", "志愿服务队"]
    assert names.nbytes() < 4096 + 200


def test_a_radius_beyond_double_range_is_refused_as_the_contract_refuses_it() -> None:
    # 1e400 is beyond double range: refused by msgspec, then named by pydantic; the largest
    # finite double is a radius both accept.
    good = encoded(body()).replace(b'"radius_km": 10.0', b'"radius_km": 1.7976931348623157e308')
    bad = encoded(body()).replace(b'"radius_km": 10.0', b'"radius_km": 1e400')
    assert good != bad != encoded(body())
    decoded = decode_many([good, bad])
    assert isinstance(decoded[0], ResourceState) and decoded[0].radius_km == 1.7976931348623157e308
    expected = pydantic_or_error(bad)
    assert isinstance(expected, ValidationError) and isinstance(decoded[1], ValidationError)
    assert malformed_reason(decoded[1]) == malformed_reason(expected)

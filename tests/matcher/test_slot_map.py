"""`SlotMap` (services/matcher/columns.py): a restored index finds each resource's slot as
the dict built by a full replay does, by the sorted hashes of the snapshot's ids and a dict
of the ids added since."""

import pytest

from services.matcher.columns import SlotMap


class SameHash(str):
    """An id whose hash every other one shares: ids that collide must still be told apart."""

    def __hash__(self) -> int:
        return 7


def test_every_restored_id_has_its_slot_and_no_other_id_has_one() -> None:
    ids = [f"res-{i}" for i in range(1000)]
    slots = SlotMap(ids)
    assert [slots[i] for i in ids] == list(range(1000))
    assert dict(slots.items()) == dict(zip(ids, range(1000), strict=True))
    assert "res-1000" not in slots and slots.get("res-1000") is None
    with pytest.raises(KeyError):
        slots["res-1000"]


def test_ids_added_after_the_snapshot_are_found_and_taken_back() -> None:
    slots = SlotMap(["a", "b"])
    slots["c"] = 2
    slots.update({"d": 3})
    assert (slots.get("c"), slots["d"], len(slots), list(slots)) == (2, 3, 4, ["a", "b", "c", "d"])
    assert slots.pop("d") == 3 and "d" not in slots and len(slots) == 3
    assert not slots.keys().isdisjoint(["x", "b"]) and slots.keys().isdisjoint(["x", "y"])


def test_a_restored_id_keeps_its_slot() -> None:
    slots = SlotMap(["a", "b"])
    slots["b"] = 1  # the same slot: nothing changes
    with pytest.raises(ValueError):
        slots["b"] = 5
    with pytest.raises(ValueError):
        del slots["a"]
    assert (slots["a"], slots["b"], len(slots)) == (0, 1, 2)


def test_ids_sharing_a_hash_are_told_apart() -> None:
    ids = ["a", SameHash("x"), "b", SameHash("y"), SameHash("z")]
    slots = SlotMap(ids)
    assert [slots[i] for i in ids] == [0, 1, 2, 3, 4]
    assert SameHash("w") not in slots


@pytest.mark.parametrize(
    "ids",
    [
        ["a", "b", "a"],
        [SameHash("x"), SameHash("y"), SameHash("x")],  # the repeated id not next to itself
    ],
)
def test_an_id_held_twice_is_refused(ids: list[str]) -> None:
    with pytest.raises(ValueError, match="held twice"):
        SlotMap(ids)

"""Columnar storage of the index: one numpy record (a slot) per resource, and small tables of the
values many resources share (category lists, division lists, groups, units, descriptions).

Why columns: at a million resources one Python object per resource and per field costs more
than a kilobyte each, and ranking field by field in Python costs microseconds per candidate.
A record is ~100 bytes, written in one assignment; ranking reads the candidates' records in
one gather and filters and scores them as whole arrays.

A resource keeps its slot for the life of the index (an inactive one is remembered for its
version), so slot numbers held elsewhere (shards, division lists) never point at another
resource: a changed record is recognised by its version instead.
"""

from __future__ import annotations

import gc
import math
from array import array
from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from shared.contracts.resources import CapacityMode, ResourceKind

if TYPE_CHECKING:
    from services.matcher.decode import State

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_LOOKUPS_MAX = 4096
INT_MAX = int(np.iinfo(np.int64).max)

ROW = np.dtype(
    [
        ("lat", "f8"),
        ("lon", "f8"),
        ("lat_rad", "f8"),  # math.radians(lat), as the distance formula takes it
        ("cos_lat", "f8"),  # math.cos(lat_rad): the resource's half of the haversine
        ("radius_km", "f8"),  # NaN when the resource serves divisions only
        ("version", "i8"),
        ("capacity_total", "i8"),
        ("capacity_remaining", "i8"),
        ("open_referrals", "i8"),
        ("categories", "i4"),  # id in Columns.categories
        ("adcodes", "i4"),  # id in Columns.adcodes
        ("groups", "i4"),  # id in Columns.groups
        ("description", "i4"),  # id in Columns.descriptions
        ("available_from", "i4"),  # first day offered, as date.toordinal(); 0: always
        ("available_until", "i4"),  # last day offered, as date.toordinal(); DAY_MAX: open
        ("unit", "i2"),  # id in Columns.units
        ("kind", "u1"),  # position in KINDS
        ("reach", "u1"),  # position of the radius class in RADIUS_CLASSES_KM
        ("active", "?"),
        ("waitlist", "?"),
    ],
    align=True,  # 104 bytes a record: aligned fields keep numpy on its fast loops
)
DAY_MAX = int(np.iinfo(np.int32).max)  # an open-ended offer's last day
Rows = npt.NDArray[np.void]
Tables = dict[str, list[Any]]
Slots = npt.NDArray[np.int64]

KINDS = tuple(ResourceKind)
_KIND_INDEX = {kind: i for i, kind in enumerate(KINDS)}

RADIUS_CLASSES_KM = (2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 20_000.0)
NO_REACH = len(RADIUS_CLASSES_KM)  # the reach of a resource without a radius


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for one bulk step (a batch decoded, a batch taken in):
    the step allocates tens of thousands of containers (tuples, lists) that live until it
    ends or for good, none in a cycle, and the collector's passes over them cost ~5 % of
    the replay (measured at 200,000 resources). Left off if it was off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def radius_class(radius_km: float) -> int:
    """The position of the smallest radius class that holds `radius_km`."""
    return min(bisect_left(RADIUS_CLASSES_KM, radius_km), len(RADIUS_CLASSES_KM) - 1)


class Interned(Generic[K, V]):
    """Values stored once and referred to by their position: a resource row holds the position."""

    def __init__(self, make: Callable[[K], V]) -> None:
        self.values: list[V] = []
        self._ids: dict[K, int] = {}
        self._make = make
        self._lookups: dict[tuple[Callable[[V, Any], Any], Hashable], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.values)

    def id_of(self, key: K) -> int:
        """The position of `key`'s value, added on first sight."""
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self.values)
            self.values.append(self._make(key))
            self._lookups.clear()
        return found

    def find(self, key: K) -> int:
        """The position of `key`'s value, -1 if it has none (nothing is added)."""
        return self._ids.get(key, -1)

    def ids_of(self, keys: list[K]) -> np.ndarray:
        """`id_of` of each key, as an array (a bulk load: one dict probe per key, in C)."""
        found = list(map(self._ids.get, keys))
        try:
            return np.asarray(found, dtype=np.int64)
        except TypeError:  # a None: new values, given ids in order of first sight as `id_of`
            for key in dict.fromkeys(keys):
                self.id_of(key)
            return np.asarray(list(map(self._ids.get, keys)), dtype=np.int64)

    def keys(self) -> list[K]:
        """Every key, in the order of its value's position (what `id_of` gave out)."""
        return list(self._ids)

    @classmethod
    def of_keys(cls, make: Callable[[K], V], keys: Iterable[K]) -> Interned[K, V]:
        """The table that giving out `keys` in this order builds (a snapshot read back)."""
        table: Interned[K, V] = cls(make)
        for key in keys:
            table.id_of(key)
        return table

    def per_value(
        self, rule: Callable[[V, Any], Any], key: Hashable, dtype: type = bool
    ) -> np.ndarray:
        """`rule(value, key)` for every value, as an array by value id: a lookup that turns a
        rule on, say, a category list into one gather over the candidates' records.

        Kept per (rule, key) until a value is added: the tables are small (distinct category
        lists, group lists, division lists) and requests repeat the same keys.
        """
        found = self._lookups.get((rule, key))
        if found is None:
            if len(self._lookups) >= _LOOKUPS_MAX:
                self._lookups.clear()
            found = np.fromiter((rule(v, key) for v in self.values), dtype=dtype, count=len(self))
            self._lookups[(rule, key)] = found
        return found


class Strings:
    """Strings by position, held as UTF-8 in one buffer: ~40 bytes for a ten-character Chinese
    name where a list of `str` holds ~100 (a Python string object and its pointer). A string
    replaced is written anew at the end; the buffer is compacted when half of it is stale."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._starts = array("q")
        self._lengths = array("i")
        self._used = 0  # bytes of the strings held now (the rest of the buffer is stale)

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, position: int) -> str:
        start = self._starts[position]
        return _decode(self._buffer[start : start + self._lengths[position]])

    def __setitem__(self, position: int, value: str) -> None:
        encoded = _encode(value)
        self._used += len(encoded) - self._lengths[position]
        self._starts[position] = len(self._buffer)
        self._lengths[position] = len(encoded)
        self._buffer += encoded
        if len(self._buffer) > 2 * self._used + 4096:
            self.compact()

    def extend(self, values: list[str]) -> None:
        """Append many strings: encoded as one, their ends found by the NULs joining them
        (UTF-8 writes a zero byte for U+0000 alone), not one encoding call per string."""
        if not values:
            return
        joined = _encode("\0".join(values))
        ends = np.flatnonzero(np.frombuffer(joined, dtype=np.uint8) == 0)
        if len(ends) != len(values) - 1:  # a string holding a NUL itself
            for value in values:
                self._append(_encode(value))
            return
        bounds = np.concatenate(([-1], ends, [len(joined)]))
        lengths = np.diff(bounds) - 1
        starts = bounds[:-1] + 1 - np.arange(len(values)) + len(self._buffer)
        self._starts.frombytes(starts.astype(np.int64).tobytes())
        self._lengths.frombytes(lengths.astype(np.int32).tobytes())
        self._buffer += joined.replace(b"\0", b"")
        self._used += len(joined) - len(ends)

    def _append(self, encoded: bytes) -> None:
        self._starts.append(len(self._buffer))
        self._lengths.append(len(encoded))
        self._buffer += encoded
        self._used += len(encoded)

    def append(self, value: str) -> None:
        self._append(_encode(value))

    def nbytes(self) -> int:
        return len(self._buffer) + (self._starts.itemsize + self._lengths.itemsize) * len(self)

    def dump(self) -> tuple[bytes, bytes, bytes]:
        """The buffer, the starts and the lengths, as bytes (a snapshot; `load` reads them),
        copied as they are: memory copies, cheap on the event loop. A snapshot passes them
        through `compacted` (slow at a million: off the loop)."""
        return bytes(self._buffer), self._starts.tobytes(), self._lengths.tobytes()

    @staticmethod
    def compacted(buffer: bytes, starts: bytes, lengths: bytes) -> tuple[bytes, bytes, bytes]:
        """`dump`'s parts without the bytes of replaced strings: a replaced name (a volunteer's
        own, say) is not carried on."""
        sizes = array("i", lengths)
        if len(buffer) == sum(sizes):
            return buffer, starts, lengths
        kept = bytearray()
        new_starts = array("q")
        for start, size in zip(array("q", starts), sizes, strict=True):
            new_starts.append(len(kept))
            kept += buffer[start : start + size]
        return bytes(kept), new_starts.tobytes(), lengths

    @classmethod
    def load(cls, buffer: bytes, starts: bytes, lengths: bytes) -> Strings:
        """The strings `dump` wrote; ValueError if the parts do not fit together."""
        strings = cls()
        strings._starts.frombytes(starts)
        strings._lengths.frombytes(lengths)
        if len(strings._starts) != len(strings._lengths):
            raise ValueError("names: starts and lengths differ in count")
        if len(strings):
            first = np.frombuffer(starts, dtype=np.int64)
            sizes = np.frombuffer(lengths, dtype=np.int32)
            if first.min() < 0 or sizes.min() < 0 or (first + sizes).max() > len(buffer):
                raise ValueError("names: a string lies outside the buffer")
        strings._buffer = bytearray(buffer)
        strings._used = sum(strings._lengths)
        return strings

    def compact(self) -> None:
        """Write the strings held now into a new buffer (the replaced ones' bytes dropped)."""
        buffer, starts, _ = self.compacted(*self.dump())
        self._buffer, self._starts, self._used = bytearray(buffer), array("q", starts), len(buffer)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # JSON may carry a lone surrogate


def _decode(data: bytes | bytearray) -> str:
    return data.decode("utf-8", "surrogatepass")


def _same(value: str) -> str:
    return value


class SlotMap(MutableMapping[str, int]):
    """Resource id → slot for columns read back from a snapshot. The snapshot's ids are found
    by their hashes, sorted once (one numpy sort) and searched; ids added since are in a dict.

    Why not one dict: at a million ids, building it took 1.2-2.7 s of a restarted replica's
    start, two thirds of restoring the snapshot; the sorted hashes take a third of that and
    half the memory. A look-up costs a few microseconds instead of one, for the tail's
    changes and single look-ups only: ranking works on slots. The snapshot's ids keep their
    slots for the life of the index (as every id does), so the sorted part never changes."""

    def __init__(self, ids: list[str]) -> None:
        """Slot i for `ids[i]`; ValueError if an id comes twice."""
        hashes = np.fromiter(map(hash, ids), dtype=np.int64, count=len(ids))
        # Not a stable sort: ids of one hash are all compared (`_restored`), in any order, and
        # numpy's default sort takes a third of the time of its stable one over a million.
        self._order = np.argsort(hashes)  # slots by hash
        self._hashes = hashes[self._order]
        self._ids = ids[:]  # the ids restored, by slot (Columns.ids grows; these stay)
        self._added: dict[str, int] = {}
        for equal in _runs_of_equal(self._hashes):  # rare: an id twice, or two of one hash
            held = [ids[slot] for slot in self._order[equal].tolist()]
            if len(set(held)) != len(held):
                raise ValueError("a resource id is held twice")

    def _restored(self, resource_id: object) -> int | None:
        wanted = hash(resource_id)
        at = int(np.searchsorted(self._hashes, wanted))
        while at < len(self._hashes) and self._hashes[at] == wanted:
            slot = int(self._order[at])
            if self._ids[slot] == resource_id:
                return slot
            at += 1
        return None

    def get(self, resource_id: str, default: Any = None) -> Any:
        slot = self._added.get(resource_id)
        if slot is None:
            slot = self._restored(resource_id)
        return default if slot is None else slot

    def __getitem__(self, resource_id: str) -> int:
        slot = self.get(resource_id)
        if slot is None:
            raise KeyError(resource_id)
        return int(slot)

    def __contains__(self, resource_id: object) -> bool:
        return resource_id in self._added or self._restored(resource_id) is not None

    def __setitem__(self, resource_id: str, slot: int) -> None:
        restored = self._restored(resource_id)
        if restored is None:
            self._added[resource_id] = slot
        elif restored != slot:
            raise ValueError("a resource keeps its slot")

    def __delitem__(self, resource_id: str) -> None:
        if resource_id in self._added:
            del self._added[resource_id]
        elif self._restored(resource_id) is not None:
            raise ValueError("a restored resource keeps its slot")
        else:
            raise KeyError(resource_id)

    def __iter__(self) -> Iterator[str]:
        yield from self._ids
        yield from self._added

    def __len__(self) -> int:
        return len(self._ids) + len(self._added)


def _largest_unsigned(ids: npt.NDArray[np.signedinteger[Any]]) -> int:
    """The largest of `ids` read as unsigned: a negative one reads as larger than any table
    (one pass over the records where a minimum and a maximum took two)."""
    return int(ids.view(np.dtype(f"u{ids.dtype.itemsize}")).max())


def _runs_of_equal(values: npt.NDArray[np.int64]) -> list[slice]:
    """The runs of equal values in sorted `values` (each of two or more)."""
    same = np.flatnonzero(values[1:] == values[:-1])
    runs: list[slice] = []
    for at in same.tolist():
        if runs and runs[-1].stop == at + 1:
            runs[-1] = slice(runs[-1].start, at + 2)
        else:
            runs.append(slice(at, at + 2))
    return runs


class Columns:
    """Every indexed resource as one record in `rows`, found by id through `slots`."""

    def __init__(self, capacity: int = 1024) -> None:
        self.rows: Rows = np.zeros(capacity, dtype=ROW)
        self.ids: list[str] = []
        self.names = Strings()
        self.slots: MutableMapping[str, int] = {}  # a SlotMap when restored
        self.categories: Interned[tuple[str, ...], tuple[str, ...]] = Interned(tuple)
        self.adcodes: Interned[tuple[str, ...], frozenset[str]] = Interned(frozenset)
        self.groups: Interned[tuple[str, ...], frozenset[str]] = Interned(frozenset)
        self.descriptions: Interned[str, str] = Interned(_same)
        self.units: Interned[str, str] = Interned(_same)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def restored(cls, *, rows: Rows, ids: list[str], names: Strings, tables: Tables) -> Columns:
        """Columns holding what a snapshot holds (`tables`: each table's keys, as `keys` gives
        them); ValueError if the parts do not fit together."""
        if not len(rows) == len(ids) == len(names):
            raise ValueError("rows, ids and names differ in count")
        columns = cls(capacity=len(rows) + len(rows) // 8 + 1024)
        columns.rows[: len(rows)] = rows
        columns.ids = ids
        columns.names = names
        columns.slots = SlotMap(ids)
        columns.categories = Interned.of_keys(tuple, map(tuple, tables["categories"]))
        columns.adcodes = Interned.of_keys(frozenset, map(tuple, tables["adcodes"]))
        columns.groups = Interned.of_keys(frozenset, map(tuple, tables["groups"]))
        columns.descriptions = Interned.of_keys(_same, tables["descriptions"])
        columns.units = Interned.of_keys(_same, tables["units"])
        for field, table in (
            ("categories", columns.categories),
            ("adcodes", columns.adcodes),
            ("groups", columns.groups),
            ("description", columns.descriptions),
            ("unit", columns.units),
        ):
            if len(rows) and _largest_unsigned(rows[field]) >= len(table):
                raise ValueError(f"{field}: a record refers to no value")
        if len(rows) and (rows["kind"].max() >= len(KINDS) or rows["reach"].max() > NO_REACH):
            raise ValueError("kind or reach out of range")
        return columns

    def tables(self) -> Tables:
        """Each shared table's keys in order of position (what `restored` takes back)."""
        return {
            "categories": self.categories.keys(),
            "adcodes": self.adcodes.keys(),
            "groups": self.groups.keys(),
            "descriptions": self.descriptions.keys(),
            "units": self.units.keys(),
        }

    def new_slot(self, resource_id: str) -> int:
        """A slot for a resource not seen before."""
        slot = self.slots[resource_id] = len(self.ids)
        if slot == len(self.rows):
            self._grow()
        self.ids.append(resource_id)
        self.names.append("")
        return slot

    def _grow(self, least: int = 0) -> None:
        # Doubling, and copying only the records given out: growing by half copied the whole
        # array 14 times on the way to a million (8 % of the build). The unused tail costs no
        # memory until written (numpy's zeros are the kernel's zero pages).
        used = min(len(self.ids), len(self.rows))
        rows = np.zeros(max(least, 2 * len(self.rows)), dtype=ROW)
        rows[:used] = self.rows[:used]
        self.rows = rows

    def add_many(self, batch: Batch) -> range | None:
        """New slots for resources not seen before, written column by column: a bulk load such
        as the replay at start. Stores exactly what `write` stores. None (and nothing stored)
        if a resource is known already or comes twice in the batch."""
        start = len(self.ids)
        end = start + len(batch)
        ids = batch["resource_id"]
        known = len(self.slots)
        if not self.slots.keys().isdisjoint(ids):
            return None
        self.slots.update(zip(ids, range(start, end), strict=True))
        if len(self.slots) != known + len(ids):  # an id twice in the batch: slots taken back
            for resource_id in ids:
                self.slots.pop(resource_id, None)
            return None
        self.ids.extend(ids)
        self.names.extend(batch["name"])
        if len(self.rows) < end:
            self._grow(end)
        _write_records(self, batch, self.rows[start:end])
        return range(start, end)

    def write(self, slot: int, state: State) -> None:
        """Store a resource's state in its slot, in one assignment."""
        lat_rad = math.radians(state.lat)
        radius = state.radius_km
        self.names[slot] = state.name
        self.rows[slot] = (
            state.lat,
            state.lon,
            lat_rad,
            math.cos(lat_rad),
            math.nan if radius is None else radius,
            min(state.version, INT_MAX),
            min(state.capacity_total, INT_MAX),
            min(state.capacity_remaining, INT_MAX),
            min(state.open_referrals, INT_MAX),
            self.categories.id_of(tuple(state.categories)),
            self.adcodes.id_of(tuple(state.adcodes)),
            self.groups.id_of(tuple(state.eligible_groups)),
            self.descriptions.id_of(state.description),
            state.available_from.toordinal() if state.available_from else 0,
            state.available_until.toordinal() if state.available_until else DAY_MAX,
            self.units.id_of(state.capacity_unit),
            _KIND_INDEX[state.kind],
            NO_REACH if radius is None else radius_class(radius),
            state.active,
            state.capacity_mode == CapacityMode.WAITLIST,
        )

    def text_of(self, slot: int) -> str:
        """The text a resource is matched on: its name and description."""
        return f"{self.names[slot]} {self.descriptions.values[int(self.rows['description'][slot])]}"

    def in_use(self) -> Rows:
        """The records of every slot given out so far (a view)."""
        return self.rows[: len(self.ids)]


class Batch(dict[str, list[Any]]):
    """States turned into columns: field name → the field's values, in order. Each column is
    one list comprehension over the states: Python 3.11 specialises `state.field` on a
    msgspec struct to a read at the field's offset, 0.72× the time of an `attrgetter` mapped
    over them (and a `zip` of one getter of every field builds a tuple per state)."""

    @classmethod
    def of(cls, states: list[State]) -> Batch:
        return cls(
            resource_id=[s.resource_id for s in states],
            name=[s.name for s in states],
            lat=[s.lat for s in states],
            lon=[s.lon for s in states],
            radius_km=[s.radius_km for s in states],
            version=[s.version for s in states],
            capacity_total=[s.capacity_total for s in states],
            capacity_remaining=[s.capacity_remaining for s in states],
            open_referrals=[s.open_referrals for s in states],
            categories=[s.categories for s in states],
            adcodes=[s.adcodes for s in states],
            eligible_groups=[s.eligible_groups for s in states],
            description=[s.description for s in states],
            available_from=[s.available_from for s in states],
            available_until=[s.available_until for s in states],
            capacity_unit=[s.capacity_unit for s in states],
            kind=[s.kind for s in states],
            active=[s.active for s in states],
            capacity_mode=[s.capacity_mode for s in states],
        )

    def __len__(self) -> int:
        return len(self["resource_id"])


def _write_records(columns: Columns, batch: Batch, rows: Rows) -> None:
    """Write a batch's records into `rows` (as long as the batch), field by field as
    `Columns.write` computes them one by one."""
    rows["lat"], rows["lon"] = batch["lat"], batch["lon"]
    lat_rad = np.radians(rows["lat"])  # x · (π / 180), as math.radians: the same double
    rows["lat_rad"], rows["cos_lat"] = lat_rad, list(map(math.cos, lat_rad.tolist()))
    radius = np.array(batch["radius_km"], dtype=np.float64)  # None → NaN
    rows["radius_km"] = radius
    reach = np.searchsorted(RADIUS_CLASSES_KM, radius, side="left")  # as bisect_left
    reach = np.minimum(reach, len(RADIUS_CLASSES_KM) - 1)
    rows["reach"] = np.where(np.isnan(radius), NO_REACH, reach)
    for name in ("version", "capacity_total", "capacity_remaining", "open_referrals"):
        rows[name] = _int64s(batch[name])
    rows["categories"] = _list_ids(columns.categories, batch["categories"])
    rows["adcodes"] = _list_ids(columns.adcodes, batch["adcodes"])
    rows["groups"] = _list_ids(columns.groups, batch["eligible_groups"])
    rows["description"] = columns.descriptions.ids_of(batch["description"])
    rows["available_from"] = _ordinals(batch["available_from"], 0)
    rows["available_until"] = _ordinals(batch["available_until"], DAY_MAX)
    rows["unit"] = columns.units.ids_of(batch["capacity_unit"])
    rows["kind"] = list(map(_KIND_INDEX.__getitem__, batch["kind"]))
    rows["active"] = batch["active"]
    rows["waitlist"] = list(map(CapacityMode.WAITLIST.__eq__, batch["capacity_mode"]))


def _list_ids(table: Interned[tuple[str, ...], Any], values: list[Any]) -> np.ndarray:
    """`table.ids_of` the values as tuples: msgspec decodes lists as tuples already, pydantic
    as lists (unhashable: converted, as `write` converts them)."""
    try:
        return table.ids_of(values)
    except TypeError:
        return table.ids_of(list(map(tuple, values)))


def _int64s(values: list[int]) -> Any:
    """The values as int64, each beyond it held at INT_MAX (as `write` does)."""
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        return [min(value, INT_MAX) for value in values]


def _ordinals(days: list[date | None], missing: int) -> Any:
    if not any(days):
        return missing
    return [day.toordinal() if day else missing for day in days]

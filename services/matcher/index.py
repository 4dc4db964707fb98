"""The in-memory resource index: every resource's public state as a numpy record (`columns`),
searchable through shards per (offered category, radius class) on a grid of latitude rows
(`shards`), plus a map of administrative codes for resources that serve whole divisions.

Why shards by radius class: a resource can serve a need only if the need lies within its own
radius. Searching each shard with that shard's largest radius finds every resource that could
reach the need, and no shard is slowed down by one county-wide department's 100 km radius.
Shards are found by offered code (a dict lookup), never by scanning every shard.

Updates do not rebuild everything: a changed resource goes to its shards' pending set, which
is scanned directly, and only that shard is rebuilt when its pending set grows large. During
the replay at start nothing is sorted or linked: every shard and division list is built once
from the columns when caught up (until then a search scans the columns). The replay comes in
batches (`apply_many`): new resources are written column by column, and their texts are
counted in after the index is ready (`count_text`), the one per-resource cost left that only
free-text requests need.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import compress
from typing import TYPE_CHECKING

import numpy as np

from services.matcher.columns import (
    KINDS,
    NO_REACH,
    RADIUS_CLASSES_KM,
    Batch,
    Columns,
    Rows,
    Slots,
    collector_paused,
    radius_class,
)
from services.matcher.shards import Shard, Window
from services.matcher.text import TextModel, distinct_ngrams
from shared.contracts.resources import ResourceKind

if TYPE_CHECKING:
    from services.matcher.decode import State

__all__ = ["RADIUS_CLASSES_KM", "IndexedResource", "ResourceIndex"]

_TEXT_STEP = 16_384


@dataclass(frozen=True, slots=True)
class IndexedResource:
    """What the index holds of one resource, read back (for status and tests)."""

    resource_id: str
    version: int
    name: str
    kind: ResourceKind
    capacity_total: int
    capacity_remaining: int
    open_referrals: int
    active: bool


class ResourceIndex:
    """Every known resource's public state, searchable by category and place."""

    def __init__(self, *, rebuild_fraction: float = 0.1, rebuild_min_pending: int = 64) -> None:
        self.columns = Columns()
        self.shards: dict[str, dict[float, Shard]] = {}
        self.by_adcode: dict[tuple[str, str], set[int]] = {}
        self._text = TextModel()
        self._uncounted: set[int] = set()
        self.rebuild_fraction = rebuild_fraction
        self.rebuild_min_pending = rebuild_min_pending
        self.deferred = False
        self.applied = 0

    def __len__(self) -> int:
        return len(self.columns)

    def __contains__(self, resource_id: object) -> bool:
        return resource_id in self.columns.slots

    def get(self, resource_id: str) -> IndexedResource | None:
        """The indexed state of one resource, None if it was never seen."""
        slot = self.columns.slots.get(resource_id)
        if slot is None:
            return None
        row = self.columns.rows[slot]
        return IndexedResource(
            resource_id=resource_id,
            version=int(row["version"]),
            name=self.columns.names[slot],
            kind=KINDS[int(row["kind"])],
            capacity_total=int(row["capacity_total"]),
            capacity_remaining=int(row["capacity_remaining"]),
            open_referrals=int(row["open_referrals"]),
            active=bool(row["active"]),
        )

    def shard_count(self) -> int:
        """How many (category, radius class) shards exist."""
        return sum(len(by_reach) for by_reach in self.shards.values())

    def defer_rebuilds(self) -> None:
        """Sort no shard until `rebuild_all` (a bulk load such as the replay at start)."""
        self.deferred = True

    def restore(self, columns: Columns) -> None:
        """Hold `columns` (a snapshot read back) in place of everything held so far, as a
        bulk load: texts are counted in and shards built when caught up (`rebuild_all`)."""
        self.columns = columns
        self.shards = {}
        self.by_adcode = {}
        self._text = TextModel()
        self.deferred = True
        self._uncounted = set(np.flatnonzero(columns.in_use()["active"]).tolist())
        self.applied = len(columns)

    def apply_many(self, states: list[State]) -> int:
        """Take in many states at once (a batch of the replay); returns how many were new.

        Resources not seen before, each once in the batch, are written column by column;
        anything else (a later version, a repeat) goes through `apply` one by one.
        """
        with collector_paused():
            batch = Batch.of(states)
            slots = self.columns.add_many(batch)
            if slots is None:
                return sum(self.apply(state) for state in states)
            active = batch["active"]
            if self.deferred:  # texts counted later, shards and division lists when caught up
                self._uncounted.update(compress(slots, active))
            else:
                for slot, state in compress(zip(slots, states, strict=True), active):
                    self._link(slot, state)
            self.applied += len(states)
            return len(states)

    def apply(self, state: State) -> bool:
        """Take in a resource's new state; an older or repeated version is ignored."""
        columns = self.columns
        slot = columns.slots.get(state.resource_id)
        if slot is not None:
            if columns.rows["version"][slot] >= state.version:
                return False
            self._unlink(slot)
        else:
            slot = columns.new_slot(state.resource_id)
        columns.write(slot, state)
        if state.active:
            self._link(slot, state)
        self.applied += 1
        return True

    def _link(self, slot: int, state: State) -> None:
        # An inactive resource can never be ranked: it is remembered (for its version) only.
        if self.deferred:  # its text counted in later (`count_text`), its shards and division
            self._uncounted.add(slot)  # lists built from the columns when caught up
            return
        self._text.add(distinct_ngrams(f"{state.name} {state.description}"))
        radius = state.radius_km
        if radius is not None:
            for code in state.categories:
                self._add_to_shard(code, radius_class(radius), slot)
        for code in state.categories:
            for adcode in state.adcodes:
                self.by_adcode.setdefault((code, adcode), set()).add(slot)

    @property
    def text(self) -> TextModel:
        """Document frequencies of every linked resource's text (counting in what is left)."""
        if self._uncounted:
            self.count_text()
        return self._text

    def text_backlog(self) -> int:
        """How many linked resources' texts are not counted in yet."""
        return len(self._uncounted)

    def count_text(self, most: int | None = None) -> int:
        """Count in the texts left from a bulk load (at most `most`); returns how many are left.

        Why later: counting a text's n-grams is the largest per-resource cost of the replay,
        and only a request with free text reads them. The feed counts them in small steps once
        it is caught up; `text` counts in the rest first.
        """
        uncounted = self._uncounted
        left = len(uncounted) if most is None else min(most, len(uncounted))
        while left:
            # In steps: a step's grams are all alive until they are counted (~1 KB a text).
            step = min(left, _TEXT_STEP)
            left -= step
            slots = [uncounted.pop() for _ in range(step)]
            columns = self.columns
            descriptions = columns.descriptions.values
            names = [columns.names[slot] for slot in slots]
            ids = columns.rows["description"][slots].tolist()
            self._text.add_documents(names, [descriptions[i] for i in ids])
        return len(uncounted)

    def _add_to_shard(self, code: str, reach: int, slot: int) -> None:
        shard = self._shard(code, reach)
        shard.add(slot)
        if shard.needs_rebuild(self.rebuild_fraction, self.rebuild_min_pending):
            shard.rebuild(self.columns.rows)

    def _shard(self, code: str, reach: int) -> Shard:
        by_reach = self.shards.setdefault(code, {})
        reach_km = RADIUS_CLASSES_KM[reach]
        shard = by_reach.get(reach_km)
        if shard is None:
            shard = by_reach[reach_km] = Shard(reach_km=reach_km)
        return shard

    def _built_shard(self, code: str, reach: int) -> Shard | None:
        return self.shards.get(code, {}).get(RADIUS_CLASSES_KM[reach])

    def _unlink(self, slot: int) -> None:
        columns = self.columns
        row = columns.rows[slot]
        if not row["active"]:
            return
        if slot in self._uncounted:
            self._uncounted.discard(slot)
        else:
            self._text.remove(distinct_ngrams(columns.text_of(slot)))
        if self.deferred:
            return  # in no shard or division list yet
        reach = int(row["reach"])
        adcodes = columns.adcodes.values[int(row["adcodes"])]
        for code in columns.categories.values[int(row["categories"])]:
            if reach != NO_REACH and (shard := self._built_shard(code, reach)) is not None:
                shard.discard(slot)
            for adcode in adcodes:
                self.by_adcode[(code, adcode)].discard(slot)

    def rebuild_all(self) -> None:
        """Build every shard and division list from the columns, and from now on keep them
        up to date change by change."""
        self.deferred = False
        rows = self.columns.in_use()
        self._build_areas(rows)
        live = np.flatnonzero(rows["active"] & (rows["reach"] != NO_REACH))
        combos, reaches = rows["categories"][live], rows["reach"][live]
        for code in self._offered_codes():
            offers = self._combos_offering([code])[combos]
            members, member_reaches = live[offers], reaches[offers]
            for reach in range(len(RADIUS_CLASSES_KM)):
                in_class = members[member_reaches == reach]
                known = RADIUS_CLASSES_KM[reach] in self.shards.get(code, {})
                if len(in_class) or known:
                    self._shard(code, reach).rebuild(rows, members=in_class)

    def _build_areas(self, rows: Rows) -> None:
        """The division lists of every active resource serving divisions: one pass per
        distinct (category list, division list) pair in use, not one per resource."""
        columns = self.columns
        self.by_adcode = {}
        nowhere = columns.adcodes.find(())
        serving = np.flatnonzero(rows["active"] & (rows["adcodes"] != nowhere))
        pairs = rows["categories"][serving].astype(np.int64) << 32 | rows["adcodes"][serving]
        order = np.argsort(pairs, kind="stable")
        pairs = pairs[order]
        firsts = np.flatnonzero(np.diff(pairs, prepend=-1))  # of each run of equal pairs
        groups = np.split(serving[order], firsts[1:]) if len(serving) else []
        for pair, members in zip(pairs[firsts].tolist(), groups, strict=True):
            slots = members.tolist()
            adcodes = columns.adcodes.values[pair & 0xFFFFFFFF]
            for code in columns.categories.values[pair >> 32]:
                for adcode in adcodes:
                    self.by_adcode.setdefault((code, adcode), set()).update(slots)

    def _offered_codes(self) -> list[str]:
        return sorted({code for combo in self.columns.categories.values for code in combo})

    def _combos_offering(self, offered: list[str]) -> np.ndarray:
        """A lookup by category-list id: does the list hold one of `offered`?"""
        wanted = set(offered)
        values = self.columns.categories.values
        return np.fromiter(
            (not wanted.isdisjoint(combo) for combo in values), dtype=bool, count=len(values)
        )

    def all_slots(self) -> Slots:
        """Every slot given out (a brute-force candidate set)."""
        return np.arange(len(self.columns), dtype=np.int64)

    def candidates(
        self,
        *,
        offered: list[str],
        lat: float,
        lon: float,
        adcodes: list[str],
        max_distance_km: float | None,
    ) -> Slots:
        """Slots of resources offering one of `offered` that may reach the point or its
        divisions (sorted, each once)."""
        if self.deferred:
            return self._scan(offered)
        windows: dict[float, Window] = {}
        parts: list[Slots] = []
        rows = self.columns.rows
        for code in offered:
            for reach_km, shard in self.shards.get(code, {}).items():
                limit = min(reach_km, max_distance_km) if max_distance_km else reach_km
                if limit not in windows:
                    windows[limit] = Window.around(lat, lon, limit)
                parts.append(shard.candidates(rows, windows[limit]))
            for adcode in adcodes:
                found = self.by_adcode.get((code, adcode))
                if found:
                    parts.append(np.fromiter(found, dtype=np.int64, count=len(found)))
        return _distinct(parts)

    def _scan(self, offered: list[str]) -> Slots:
        """Every active resource offering one of `offered` (no shard is built yet)."""
        rows = self.columns.in_use()
        return np.flatnonzero(rows["active"] & self._combos_offering(offered)[rows["categories"]])


def _distinct(parts: list[Slots]) -> Slots:
    """The slots of all parts, sorted, each once (a resource may offer two wanted codes)."""
    if not parts:
        return np.zeros(0, dtype=np.int64)
    slots = np.concatenate(parts)
    slots.sort()
    if len(slots) > 1:
        slots = slots[np.concatenate(([True], slots[1:] != slots[:-1]))]
    return slots

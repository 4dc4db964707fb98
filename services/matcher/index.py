"""The in-memory resource index: per (offered category, radius class) a BallTree (haversine),
plus a map of administrative codes for resources that serve whole divisions.

Why shards by radius class: a resource can serve a need only if the need lies within its own
radius. Querying each shard with that shard's largest radius finds every resource that could
reach the need, and no shard is slowed down by one county-wide department's 100 km radius.
Shards are found by offered code (a dict lookup), never by scanning every shard.

Updates do not rebuild everything: a changed resource goes to its shards' pending set, which
is scanned directly, and only that shard's tree is rebuilt when its pending set grows large.
During the replay at start rebuilds are deferred and every tree is built once, when caught up.
"""

from __future__ import annotations

import math
import sys
from array import array
from dataclasses import dataclass, field

import numpy as np
from sklearn.neighbors import BallTree

from services.matcher.text import TextModel
from shared.contracts.resources import CapacityMode, ResourceKind, ResourceUpserted
from shared.geo import EARTH_RADIUS_KM

RADIUS_CLASSES_KM = (2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 20_000.0)
# The tree is only a prefilter: a metre of slack keeps float rounding at the edge of a radius
# from losing a resource that the exact check downstream would accept.
_SLACK_KM = 0.001


def radius_class(radius_km: float) -> float:
    """The smallest radius class that holds `radius_km`."""
    for bound in RADIUS_CLASSES_KM:
        if radius_km <= bound:
            return bound
    return RADIUS_CLASSES_KM[-1]


def _codes(values: list[str]) -> tuple[str, ...]:
    return tuple(sys.intern(v) for v in values)


@dataclass(slots=True)
class Entry:
    """What the index keeps of one resource: the fields ranking reads, nothing more."""

    resource_id: str
    version: int
    name: str
    kind: ResourceKind
    categories: tuple[str, ...]
    lat: float
    lon: float
    radius_km: float | None
    adcodes: frozenset[str]
    eligible_groups: frozenset[str]
    capacity_total: int
    capacity_remaining: int
    capacity_unit: str
    waitlist: bool
    open_referrals: int
    active: bool
    terms: array[int]

    @classmethod
    def of(cls, state: ResourceUpserted, terms: array[int]) -> Entry:
        """The compact entry of a resource's published state."""
        return cls(
            resource_id=state.resource_id,
            version=state.version,
            name=state.name,
            kind=state.kind,
            categories=_codes(state.categories),
            lat=state.lat,
            lon=state.lon,
            radius_km=state.radius_km,
            adcodes=frozenset(_codes(state.adcodes)),
            eligible_groups=frozenset(_codes(state.eligible_groups)),
            capacity_total=state.capacity_total,
            capacity_remaining=state.capacity_remaining,
            capacity_unit=sys.intern(state.capacity_unit),
            waitlist=state.capacity_mode == CapacityMode.WAITLIST,
            open_referrals=state.open_referrals,
            active=state.active,
            terms=terms,
        )


@dataclass
class Shard:
    """Resources offering one category within one radius class."""

    reach_km: float
    tree: BallTree | None = None
    tree_ids: list[str] = field(default_factory=list)
    tree_radii_km: np.ndarray = field(default_factory=lambda: np.zeros(0))
    members: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    rebuilds: int = 0

    def add(self, resource_id: str) -> None:
        self.members.add(resource_id)
        self.pending.add(resource_id)

    def discard(self, resource_id: str) -> None:
        self.members.discard(resource_id)
        self.pending.discard(resource_id)

    def needs_rebuild(self, fraction: float, min_pending: int) -> bool:
        return len(self.pending) >= max(min_pending, fraction * len(self.tree_ids))

    def rebuild(self, entries: dict[str, Entry]) -> None:
        self.tree_ids = sorted(self.members)
        self.pending.clear()
        self.rebuilds += 1
        if not self.tree_ids:
            self.tree = None
            return
        coords = np.radians([[entries[i].lat, entries[i].lon] for i in self.tree_ids])
        self.tree = BallTree(coords, metric="haversine")
        self.tree_radii_km = np.array([entries[i].radius_km for i in self.tree_ids], dtype=float)

    def candidates(self, lat_rad: float, lon_rad: float, reach_km: float, found: set[str]) -> None:
        """Add to `found` the members that may lie within `reach_km` and within their own radius
        (a prefilter: the caller checks every rule exactly)."""
        members = self.members
        found.update(self.pending)
        if self.tree is not None:
            radius = (reach_km + _SLACK_KM) / EARTH_RADIUS_KM
            hits, angles = self.tree.query_radius(
                [[lat_rad, lon_rad]], r=radius, return_distance=True
            )
            # Drop, in one vectorised step, those whose own radius does not reach the point.
            hits = hits[0][angles[0] * EARTH_RADIUS_KM <= self.tree_radii_km[hits[0]] + _SLACK_KM]
            tree_ids = self.tree_ids
            # A tree id may have moved or gone since the last rebuild: keep current members only.
            found.update(rid for rid in (tree_ids[i] for i in hits.tolist()) if rid in members)


class ResourceIndex:
    """Every known resource's public state, searchable by category and place."""

    def __init__(self, *, rebuild_fraction: float = 0.1, rebuild_min_pending: int = 64) -> None:
        self.entries: dict[str, Entry] = {}
        self.shards: dict[str, dict[float, Shard]] = {}
        self.by_adcode: dict[tuple[str, str], set[str]] = {}
        self.text = TextModel()
        self.rebuild_fraction = rebuild_fraction
        self.rebuild_min_pending = rebuild_min_pending
        self.deferred = False
        self.applied = 0

    def __len__(self) -> int:
        return len(self.entries)

    def shard_count(self) -> int:
        """How many (category, radius class) shards exist."""
        return sum(len(by_reach) for by_reach in self.shards.values())

    def defer_rebuilds(self) -> None:
        """Build no tree until `rebuild_all` (a bulk load such as the replay at start)."""
        self.deferred = True

    def apply(self, state: ResourceUpserted) -> bool:
        """Take in a resource's new state; an older or repeated version is ignored."""
        old = self.entries.get(state.resource_id)
        if old is not None and old.version >= state.version:
            return False
        if old is not None:
            self._unlink(old)
        entry = Entry.of(state, self.text.encode(f"{state.name} {state.description}"))
        self.entries[state.resource_id] = entry
        self._link(entry)
        self.applied += 1
        return True

    def _link(self, entry: Entry) -> None:
        # An inactive resource can never be ranked: it is remembered (for its version) only.
        if not entry.active:
            return
        self.text.add(entry.terms)
        rid = entry.resource_id
        for code in entry.categories:
            if entry.radius_km is not None:
                by_reach = self.shards.setdefault(code, {})
                reach = radius_class(entry.radius_km)
                shard = by_reach.get(reach) or by_reach.setdefault(reach, Shard(reach_km=reach))
                shard.add(rid)
                if not self.deferred and shard.needs_rebuild(
                    self.rebuild_fraction, self.rebuild_min_pending
                ):
                    shard.rebuild(self.entries)
            for adcode in entry.adcodes:
                self.by_adcode.setdefault((code, adcode), set()).add(rid)

    def _unlink(self, entry: Entry) -> None:
        if not entry.active:
            return
        self.text.remove(entry.terms)
        rid = entry.resource_id
        for code in entry.categories:
            if entry.radius_km is not None:
                self.shards[code][radius_class(entry.radius_km)].discard(rid)
            for adcode in entry.adcodes:
                self.by_adcode[(code, adcode)].discard(rid)

    def rebuild_all(self) -> None:
        """Build every shard's tree, and rebuild incrementally from now on."""
        self.deferred = False
        for by_reach in self.shards.values():
            for shard in by_reach.values():
                shard.rebuild(self.entries)

    def candidates(
        self,
        *,
        offered: list[str],
        lat: float,
        lon: float,
        adcodes: list[str],
        max_distance_km: float | None,
    ) -> set[str]:
        """Ids of resources offering one of `offered` that may reach the point or its divisions."""
        lat_rad, lon_rad = math.radians(lat), math.radians(lon)
        found: set[str] = set()
        for code in offered:
            for reach, shard in self.shards.get(code, {}).items():
                limit = min(reach, max_distance_km) if max_distance_km else reach
                shard.candidates(lat_rad, lon_rad, limit, found)
            for adcode in adcodes:
                found |= self.by_adcode.get((code, adcode), set())
        return found

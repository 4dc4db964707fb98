"""The in-memory resource index: per (offered category, radius class) a BallTree (haversine),
plus a map of administrative codes for resources that serve whole divisions.

Why shards by radius class: a resource can serve a need only if the need lies within its own
radius. Querying each shard with that shard's largest radius finds every resource that could
reach the need, and no shard is slowed down by one county-wide department's 100 km radius.

Updates do not rebuild everything: a changed resource goes to its shards' pending list, which
is scanned directly, and a shard's tree is rebuilt only when its pending list grows large.
"""

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from sklearn.neighbors import BallTree

from services.matcher.text import TextModel, ngrams
from shared.contracts.resources import ResourceUpserted
from shared.geo import EARTH_RADIUS_KM

RADIUS_CLASSES_KM = (2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 20_000.0)


def radius_class(radius_km: float) -> float:
    """The smallest radius class that holds `radius_km`."""
    for bound in RADIUS_CLASSES_KM:
        if radius_km <= bound:
            return bound
    return RADIUS_CLASSES_KM[-1]


@dataclass(slots=True)
class Entry:
    """What the index keeps of one resource."""

    state: ResourceUpserted
    grams: Counter[str]


@dataclass
class Shard:
    """Resources offering one category within one radius class."""

    reach_km: float
    tree: BallTree | None = None
    tree_ids: list[str] = field(default_factory=list)
    members: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)

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
        if not self.tree_ids:
            self.tree = None
            return
        coords = np.radians([[entries[i].state.lat, entries[i].state.lon] for i in self.tree_ids])
        self.tree = BallTree(coords, metric="haversine")

    def candidates(self, lat_rad: float, lon_rad: float, reach_km: float) -> set[str]:
        """Members that may lie within `reach_km` of the point (the caller checks exactly)."""
        found = set(self.pending)
        if self.tree is not None:
            hits = self.tree.query_radius([[lat_rad, lon_rad]], r=reach_km / EARTH_RADIUS_KM)[0]
            found.update(self.tree_ids[i] for i in hits)
        return found & self.members


class ResourceIndex:
    """Every known resource's public state, searchable by category and place."""

    def __init__(self, *, rebuild_fraction: float = 0.1, rebuild_min_pending: int = 64) -> None:
        self.entries: dict[str, Entry] = {}
        self.shards: dict[tuple[str, float], Shard] = {}
        self.by_adcode: dict[tuple[str, str], set[str]] = {}
        self.text = TextModel()
        self.rebuild_fraction = rebuild_fraction
        self.rebuild_min_pending = rebuild_min_pending
        self.applied = 0

    def __len__(self) -> int:
        return len(self.entries)

    def apply(self, state: ResourceUpserted) -> bool:
        """Take in a resource's new state; an older or repeated version is ignored."""
        old = self.entries.get(state.resource_id)
        if old is not None and old.state.version >= state.version:
            return False
        if old is not None:
            self._unlink(old)
        entry = Entry(state=state, grams=ngrams(f"{state.name} {state.description}"))
        self.entries[state.resource_id] = entry
        self._link(entry)
        self.applied += 1
        return True

    def _keys(self, state: ResourceUpserted) -> list[tuple[str, float]]:
        if state.radius_km is None:
            return []
        return [(code, radius_class(state.radius_km)) for code in state.categories]

    def _link(self, entry: Entry) -> None:
        state = entry.state
        self.text.add(entry.grams)
        for key in self._keys(state):
            shard = self.shards.setdefault(key, Shard(reach_km=key[1]))
            shard.add(state.resource_id)
            if shard.needs_rebuild(self.rebuild_fraction, self.rebuild_min_pending):
                shard.rebuild(self.entries)
        for code in state.categories:
            for adcode in state.adcodes:
                self.by_adcode.setdefault((code, adcode), set()).add(state.resource_id)

    def _unlink(self, entry: Entry) -> None:
        state = entry.state
        self.text.remove(entry.grams)
        for key in self._keys(state):
            self.shards[key].discard(state.resource_id)
        for code in state.categories:
            for adcode in state.adcodes:
                self.by_adcode.get((code, adcode), set()).discard(state.resource_id)

    def rebuild_all(self) -> None:
        """Rebuild every shard's tree (after a bulk load, e.g. the replay at start)."""
        for shard in self.shards.values():
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
        for (code, reach), shard in self.shards.items():
            if code in offered:
                limit = min(reach, max_distance_km) if max_distance_km else reach
                found |= shard.candidates(lat_rad, lon_rad, limit)
        for code in offered:
            for adcode in adcodes:
                found |= self.by_adcode.get((code, adcode), set())
        return found

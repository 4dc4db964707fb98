"""A shard: the resources offering one category within one radius class, on a grid of rows of
latitude (one row as tall as the class's reach), sorted by row, then longitude.

Why a grid: the grid is built by one `argsort` of one key per resource (a million in well
under a second), and a search is one binary search per row the reach touches (two or three),
each returning a contiguous run of resources within the longitudes in reach. Both bounds are
exact consequences of the haversine formula (see `Window`), so the shard is a prefilter that
never loses a resource; ranking checks every rule exactly.

Why not a scikit-learn tree (the architecture names scikit-learn for the geo index): a
`KDTree` of unit vectors per shard (searched with the chord 2 sin(reach / 2R), same pending
sets, identical rankings) was measured in this place at 1M resources on 2 cores. It adds
0.12-0.16 ms to the median ranking (p50 0.44-0.59 ms over seven in-process bench runs, two
above the 0.5 ms target of issue 5; the grid: 0.30-0.43 ms): each `query_radius` call pays
scikit-learn's input checks (~45 us) and allocates two scratch arrays as long as the shard
(~30 us at 64k members), where a grid search is two `searchsorted` calls of a few us.

Changes are not written into the sorted arrays: a changed resource goes to the shard's pending
set, which is scanned directly, and a built record whose version moved on is skipped. The
arrays are rebuilt when the pending set grows large.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from services.matcher.columns import Rows, Slots
from shared.geo import EARTH_RADIUS_KM

# The shard is only a prefilter: a metre of slack keeps float rounding at the edge of a reach
# from losing a resource that the exact check downstream would accept.
_SLACK_KM = 0.001
# Longitude slack (degrees, ~1 cm): more than the rounding of a grid key (row * 512 + lon).
_SLACK_DEG = 1e-7
_ROW_WIDTH = 512.0  # a row's span of keys: longitudes + 180 take [0, 360]
_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Window:
    """The latitudes and longitudes (degrees) a point's reach can touch; `lon_half` is None
    when every longitude can be reached (near a pole, across the antimeridian, or far)."""

    lat_low: float
    lat_high: float
    lon: float
    lon_half: float | None

    @classmethod
    def around(cls, lat: float, lon: float, reach_km: float) -> Window:
        """The window of every point within `reach_km` of (lat, lon) along a great circle.

        Latitude: a great-circle distance d is at least the difference of latitudes (radians).
        Longitude: hav(d) >= cos(lat1) cos(lat2) hav(dlon), and both latitudes lie in the band,
        so sin(dlon/2) <= sin(d/2) / min cos(band).
        """
        angle = (reach_km + _SLACK_KM) / EARTH_RADIUS_KM
        half = math.degrees(angle)
        low, high = lat - half, lat + half
        lon_half = None
        if low > -90.0 and high < 90.0 and angle < math.pi:
            min_cos = min(math.cos(math.radians(low)), math.cos(math.radians(high)))
            ratio = math.sin(angle / 2) / min_cos
            if ratio < 1.0:
                lon_half = math.degrees(2 * math.asin(ratio)) + _SLACK_DEG
                if lon - lon_half < -180.0 or lon + lon_half > 180.0:
                    lon_half = None
        return cls(low, high, lon, lon_half)


@dataclass
class Shard:
    """Resources offering one category within one radius class."""

    reach_km: float
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0))
    slots: Slots = field(default_factory=lambda: _EMPTY)
    versions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pending: set[int] = field(default_factory=set)
    # How many built members changed since the build: while none did, no version is checked.
    changed: int = 0
    rebuilds: int = 0

    def __post_init__(self) -> None:
        self.row_deg = min(180.0, math.degrees(self.reach_km / EARTH_RADIUS_KM))

    def __len__(self) -> int:
        return len(self.slots)

    def add(self, slot: int) -> None:
        self.pending.add(slot)

    def discard(self, slot: int) -> None:
        """Forget a member's current state (it changed or left); its built record goes stale."""
        self.pending.discard(slot)
        self.changed += 1

    def needs_rebuild(self, fraction: float, min_pending: int) -> bool:
        return len(self.pending) >= max(min_pending, fraction * len(self.slots))

    def current(self, rows: Rows) -> Slots:
        """Every member's slot: built records not changed since, and the pending ones."""
        return self._with_pending(self._unchanged(rows, self.slots, self.versions))

    def rebuild(self, rows: Rows, members: Slots | None = None) -> None:
        """Sort the members (by default the current ones) into the grid; nothing stays pending."""
        slots = self.current(rows) if members is None else members
        keys = self._keys(rows["lat"][slots], rows["lon"][slots])
        order = np.argsort(keys, kind="stable")
        self.keys, self.slots = keys[order], slots[order]
        self.versions = rows["version"][self.slots]
        self.pending, self.changed = set(), 0
        self.rebuilds += 1

    def _keys(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        keys: np.ndarray = self._rows(lat) * _ROW_WIDTH + (lon + 180.0)
        return keys

    def _rows(self, lat: Any) -> Any:
        return np.floor((lat + 90.0) / self.row_deg)

    def candidates(self, rows: Rows, window: Window) -> Slots:
        """Slots of the members inside the window (a prefilter: the caller checks every rule)."""
        first, last = self._rows(np.array((window.lat_low, window.lat_high)))
        starts = np.arange(first, last + 1) * _ROW_WIDTH
        if window.lon_half is None:
            low, high = starts, starts + 360.0
        else:
            low = starts + (window.lon - window.lon_half + 180.0)
            high = starts + (window.lon + window.lon_half + 180.0)
        lows = np.searchsorted(self.keys, low, side="left").tolist()
        highs = np.searchsorted(self.keys, high, side="right").tolist()
        runs = [(a, b) for a, b in zip(lows, highs, strict=True) if a < b]
        slots = _runs(self.slots, runs)
        if self.changed:
            slots = self._unchanged(rows, slots, _runs(self.versions, runs))
        return self._with_pending(slots)

    @staticmethod
    def _unchanged(rows: Rows, slots: Slots, versions: np.ndarray) -> Slots:
        # A built record may have changed since: its current state is in `pending`, if any.
        kept: Slots = slots[rows["version"][slots] == versions]
        return kept

    def _with_pending(self, slots: Slots) -> Slots:
        if not self.pending:
            return slots
        pending = np.fromiter(self.pending, dtype=np.int64, count=len(self.pending))
        return np.concatenate((slots, pending))


def _runs(values: np.ndarray, runs: list[tuple[int, int]]) -> np.ndarray:
    """The values in the given [start, end) runs, in order."""
    if len(runs) == 1:
        start, end = runs[0]
        return values[start:end]
    return np.concatenate([values[start:end] for start, end in runs] or [values[:0]])

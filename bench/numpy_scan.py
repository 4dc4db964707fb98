"""A NumPy brute-force scan: every resource checked against every hard filter, no index.

It computes the matcher's rule with the matcher's own parameters and taxonomy: the same filters,
the same score terms added in the same order, the same order (score, then distance, then id)
and the same rounding of the reported score (6 decimals).
"""

import math

import numpy as np
import numpy.typing as npt

from bench.data import TopK
from bench.latency import Summary, now, summarize
from services.matcher.ranking import ScoreParams
from shared import divisions, taxonomy
from shared.contracts.matcher import RankRequest
from shared.contracts.resources import CapacityMode, ResourceUpserted
from shared.geo import EARTH_RADIUS_KM

DEG = math.pi / 180.0  # what math.radians multiplies by


class ResourceArrays:
    """Every resource's state as columns."""

    def __init__(self, states: list[ResourceUpserted]) -> None:
        self.ids = [s.resource_id for s in states]
        order = sorted(range(len(states)), key=lambda i: self.ids[i])
        self.id_rank = np.empty(len(states), dtype=np.int64)
        self.id_rank[order] = np.arange(len(states))
        self.position = {rid: i for i, rid in enumerate(self.ids)}
        self.lat = np.array([s.lat for s in states])
        self.lon = np.array([s.lon for s in states])
        self.lat_rad = self.lat * DEG
        self.radius = np.array([np.nan if s.radius_km is None else s.radius_km for s in states])
        self.active = np.array([s.active for s in states])
        self.total = np.array([s.capacity_total for s in states], dtype=np.int64)
        self.remaining = np.array([s.capacity_remaining for s in states], dtype=np.int64)
        self.waitlist = np.array([s.capacity_mode == CapacityMode.WAITLIST for s in states])
        self.open_referrals = np.array([s.open_referrals for s in states], dtype=np.float64)
        self.codes = list(taxonomy.CATEGORIES)
        code_index = {c: i for i, c in enumerate(self.codes)}
        self.categories = self._padded([[code_index[c] for c in s.categories] for s in states])
        self.adcode_index: dict[str, int] = {}
        self.adcodes = self._padded(
            [
                [self.adcode_index.setdefault(a, len(self.adcode_index)) for a in s.adcodes]
                for s in states
            ]
        )
        self.group_bit: dict[str, int] = {}
        self.eligible = np.array(
            [self._groups_mask(s.eligible_groups, grow=True) for s in states], dtype=np.int64
        )

    def _padded(self, rows: list[list[int]]) -> npt.NDArray[np.int64]:
        width = max((len(r) for r in rows), default=0) or 1
        out = np.full((len(rows), width), -1, dtype=np.int64)
        for i, row in enumerate(rows):
            out[i, : len(row)] = row
        return out

    def _groups_mask(self, groups: list[str], *, grow: bool) -> int:
        mask = 0
        for group in groups:
            if group not in self.group_bit:
                if not grow:
                    continue
                self.group_bit[group] = len(self.group_bit)
            mask |= 1 << self.group_bit[group]
        return mask


def scan(arrays: ResourceArrays, query: RankRequest, params: ScoreParams) -> TopK:
    """The top `query.k` of the whole table for one need, by the matcher's rule."""
    fits = np.zeros(len(arrays.codes) + 1)  # the last slot answers the -1 padding
    for code in taxonomy.compatible_offers(query.category):
        fits[arrays.codes.index(code)] = taxonomy.category_fit(code, query.category)
    fit_all = fits[arrays.categories].max(axis=1)
    q_groups = arrays._groups_mask(query.groups, grow=False)
    mask = arrays.active & (fit_all > 0)
    mask &= (arrays.remaining >= query.quantity) | arrays.waitlist
    mask &= (arrays.eligible == 0) | ((arrays.eligible & q_groups) != 0)
    for excluded in query.exclude:
        if excluded in arrays.position:
            mask[arrays.position[excluded]] = False
    rows = np.flatnonzero(mask)
    # Distance exactly as shared.geo.haversine_km(need, resource) computes it.
    p1 = query.lat * DEG
    dp = arrays.lat_rad[rows] - p1
    dl = (arrays.lon[rows] - query.lon) * DEG
    s_dp, s_dl = np.sin(dp / 2), np.sin(dl / 2)
    a = s_dp * s_dp + math.cos(p1) * np.cos(arrays.lat_rad[rows]) * (s_dl * s_dl)
    distance = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    ancestors = divisions.ancestors(query.adcode) if query.adcode else []
    anc = [arrays.adcode_index[a] for a in ancestors if a in arrays.adcode_index]
    in_area = distance <= arrays.radius[rows]  # NaN radius (none given) is never within
    if anc:
        in_area |= np.isin(arrays.adcodes[rows], anc).any(axis=1)
    keep = in_area
    if query.max_distance_km is not None:
        keep &= distance <= query.max_distance_km
    rows, distance = rows[keep], distance[keep]
    w = params.weights
    total = arrays.total[rows]
    headroom = np.where(
        total > 0,
        np.clip((arrays.remaining[rows] - query.quantity) / np.maximum(total, 1), 0.0, 1.0),
        0.0,
    )
    score = w["category"] * fit_all[rows]
    score = score + w["distance"] * np.exp(-distance / params.distance_scale_km)
    score = score + w["headroom"] * headroom
    score = score + w["text"] * 0.0
    score = score + w["load"] * (1.0 / (1.0 + arrays.open_referrals[rows] / params.load_scale))
    # Ordered as the matcher orders: unrounded score, then distance, then id; reported rounded.
    order = np.lexsort((arrays.id_rank[rows], distance, -score))[: query.k]
    return [(arrays.ids[rows[i]], round(float(score[i]), 6)) for i in order]


def measure(
    arrays: ResourceArrays, needs: list[RankRequest], params: ScoreParams, *, sample: int
) -> tuple[Summary, list[TopK]]:
    """Latency of the scan over every need, and the answers to the first `sample`."""
    timings: list[float] = []
    answers: list[TopK] = []
    for i, need in enumerate(needs):
        start = now()
        answer = scan(arrays, need, params)
        timings.append(now() - start)
        if i < sample:
            answers.append(answer)
    return summarize(timings), answers

"""Ranking: hard filters that are never violated, then an explained, weighted score, then
(when a trained model is present) a learned re-ranking of the top candidates.

Filters and score components are computed over all candidates at once, as numpy arrays over
their records, operation for operation as the scalar rules state them (same formulas, same
order of additions), so a score does not depend on which path computed it. Python objects are
made for the few results only.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from services.matcher.columns import INT_MAX, KINDS, Columns, Slots
from services.matcher.components import check_weights
from services.matcher.index import ResourceIndex
from services.matcher.reranker import Reranker
from services.matcher.text import QueryWeights
from shared import divisions, taxonomy
from shared.contracts import vocabulary
from shared.contracts.common import china_date
from shared.contracts.matcher import (
    RankReply,
    RankRequest,
    Reranking,
)
from shared.contracts.resources import ResourceKind
from shared.geo import EARTH_RADIUS_KM

FILTERS = (
    "active",
    "category",
    "unit",
    "capacity",
    "service_area",
    "eligibility",
    "not_excluded",
    "available",
)
# Candidates whose best possible score (text similarity 1) stays this far below the n-th best
# score without text cannot enter the top n: their text is never compared.
_TEXT_BOUND_SLACK = 1e-9

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ScoreParams:
    """The knobs of the score, from the matcher's settings."""

    weights: dict[str, float]
    distance_scale_km: float
    load_scale: float
    rerank_top_n: int = 30

    def __post_init__(self) -> None:
        check_weights(self.weights)


@dataclass(slots=True)
class Feasible:
    """The candidates that pass every hard filter, with what scoring reads of them."""

    slots: Slots
    rows: npt.NDArray[np.void]
    distance: Floats
    fit: Floats


@dataclass(slots=True)
class _Scored:
    slot: int
    score: float
    distance: float
    code: str
    components: dict[str, float]
    kind: ResourceKind
    capacity_remaining: int
    unit: str


def hand_score(*, components: dict[str, Any], weights: dict[str, float]) -> Any:
    """The hand-weighted score: the weighted sum of the components (floats, or arrays of them,
    added in the components' order)."""
    return sum(weights[name] * value for name, value in components.items())


def rank_resources(
    *,
    index: ResourceIndex,
    query: RankRequest,
    params: ScoreParams,
    reranker: Reranker | None = None,
) -> RankReply:
    """The top `query.k` feasible resources for a need, best first, each explained."""
    return rank_among(
        index=index,
        query=query,
        params=params,
        candidates=candidates_for(index, query),
        reranker=reranker,
    )


def candidates_for(index: ResourceIndex, query: RankRequest) -> Slots:
    """The slots the index finds near the need for its category (before any hard filter)."""
    return index.candidates(
        offered=taxonomy.compatible_offers(query.category),
        lat=query.lat,
        lon=query.lon,
        adcodes=divisions.ancestors(query.adcode) if query.adcode else [],
        max_distance_km=query.max_distance_km,
    )


def rank_among(
    *,
    index: ResourceIndex,
    query: RankRequest,
    params: ScoreParams,
    candidates: Slots,
    reranker: Reranker | None = None,
) -> RankReply:
    """Rank the given candidate slots (all of the index, for a brute-force check) for a need."""
    passed = feasible(columns=index.columns, query=query, slots=candidates)
    top_n = max(query.k, params.rerank_top_n) if reranker is not None else query.k
    components = _components(index, passed, query, params, top_n)
    score = hand_score(components=components, weights=params.weights)
    best = _best(score, passed.distance, passed.slots, index.columns.ids, top_n)
    top = _top(index.columns, passed, best, score, components, query.category)
    rerankings: list[Reranking | None] = [None] * len(top)
    if reranker is not None:
        top, rerankings = _rerank(top, reranker)
    results = [
        _ranked(index.columns, s, params, query, rerank)
        for s, rerank in zip(top[: query.k], rerankings[: query.k], strict=True)
    ]
    # One validation of the whole reply from plain values: far cheaper than a model per field.
    return RankReply.model_validate(
        {"results": results, "candidates_considered": len(candidates), "index_size": len(index)}
    )


def feasible(*, columns: Columns, query: RankRequest, slots: Slots) -> Feasible:
    """The candidates that pass every hard filter, with their distance and category fit."""
    # `take` and `compress`: fancy indexing of records is an order of magnitude slower.
    rows = columns.rows.take(slots)
    # Reach first: most candidates of a busy area lie beyond their own radius (a shard is
    # searched with its class's largest one), where the record checks below pass nearly all.
    # Every filter is a mask over the same candidates, so their order changes no result.
    distance = distance_km(rows, query.lat, query.lon)
    served = distance <= rows["radius_km"]  # a NaN radius (none given) never holds
    if query.adcode:
        areas = frozenset(divisions.ancestors(query.adcode))
        served |= columns.adcodes.per_value(_serves, areas)[rows["adcodes"]]
    if query.max_distance_km is not None:
        served &= distance <= query.max_distance_km
    slots, rows, distance = slots[served], rows.compress(served), distance[served]
    keep = rows["active"] & ((rows["capacity_remaining"] >= query.quantity) | rows["waitlist"])
    day = (query.on or china_date(datetime.now(UTC))).toordinal()
    keep &= (rows["available_from"] <= day) & (day <= rows["available_until"])
    if query.exclude:
        excluded = [columns.slots[r] for r in query.exclude if r in columns.slots]
        keep &= ~np.isin(slots, excluded)
    keep &= columns.units.per_value(vocabulary.units_compatible, query.unit)[rows["unit"]]
    keep &= columns.groups.per_value(_eligible, frozenset(query.groups))[rows["groups"]]
    fit = columns.categories.per_value(_best_fit, query.category, float)[rows["categories"]]
    keep &= fit > 0
    return Feasible(slots[keep], rows.compress(keep), distance[keep], fit[keep])


def distance_km(rows: npt.NDArray[np.void], lat: float, lon: float) -> Floats:
    """Great-circle distances from (lat, lon) to the records, computed operation for operation
    as `shared.geo.haversine_km(lat, lon, record.lat, record.lon)`, in place: the busiest
    places have tens of thousands of candidates, and each temporary array is a pass more."""
    p1 = math.radians(lat)
    dp = np.subtract(rows["lat_rad"], p1)
    dp /= 2
    np.sin(dp, out=dp)
    np.square(dp, out=dp)
    dl = np.subtract(rows["lon"], lon)
    dl *= math.pi / 180.0
    dl /= 2
    np.sin(dl, out=dl)
    np.square(dl, out=dl)
    across = np.multiply(math.cos(p1), rows["cos_lat"])
    across *= dl
    dp += across  # a = sin²(dp/2) + cos(p1) cos(p2) sin²(dl/2)
    np.sqrt(dp, out=dp)
    np.minimum(1.0, dp, out=dp)
    np.arcsin(dp, out=dp)
    dp *= 2 * EARTH_RADIUS_KM
    return dp


def _eligible(groups: frozenset[str], person_groups: frozenset[str]) -> bool:
    return not groups or not groups.isdisjoint(person_groups)


def _best_fit(categories: tuple[str, ...], needed: str) -> float:
    return taxonomy.best_fit(list(categories), needed)[0]


def _serves(adcodes: frozenset[str], areas: frozenset[str]) -> bool:
    return not areas.isdisjoint(adcodes)


def _components(
    index: ResourceIndex, passed: Feasible, query: RankRequest, params: ScoreParams, top_n: int
) -> dict[str, Floats]:
    """Every score component of every feasible candidate, in the order they are added up."""
    rows = passed.rows
    total = rows["capacity_total"]
    # A quantity beyond int64 leaves no headroom either way; clamped, it cannot overflow.
    quantity = min(query.quantity, INT_MAX)
    headroom = np.clip((rows["capacity_remaining"] - quantity) / np.maximum(total, 1), 0, 1)
    components: dict[str, Floats] = {
        "category": passed.fit,
        "distance": np.exp(-passed.distance / params.distance_scale_km),
        "headroom": np.where(total > 0, headroom, 0.0),
        "text": np.zeros(len(rows)),
        "load": 1.0 / (1.0 + rows["open_referrals"] / params.load_scale),
    }
    q_text = index.text.weigh(query.text) if query.text else None
    if q_text is not None and q_text[0]:
        components["text"] = _text(index, passed, q_text, components, params, top_n)
    return components


def _text(
    index: ResourceIndex,
    passed: Feasible,
    q_text: QueryWeights,
    components: dict[str, Floats],
    params: ScoreParams,
    top_n: int,
) -> Floats:
    """Text similarity of the candidates that can still reach the top n; 0 for the others,
    whose score even with a perfect text match stays below the n-th best without text."""
    without_text = hand_score(components=components, weights=params.weights)
    similarity = np.zeros(len(without_text))
    compared = np.arange(len(without_text))
    if len(without_text) > top_n:
        nth = np.partition(without_text, len(without_text) - top_n)[len(without_text) - top_n]
        best_case = without_text + params.weights["text"]
        compared = np.flatnonzero(best_case >= nth - _TEXT_BOUND_SLACK)
    columns = index.columns
    similarity[compared] = [
        index.text.similarity(q_text, columns.text_of(slot))
        for slot in passed.slots[compared].tolist()
    ]
    return similarity


def _best(score: Floats, distance: Floats, slots: Slots, ids: list[str], n: int) -> list[int]:
    """Positions of the best n: score descending, then distance, then id, so the same index
    and request always give the same list."""
    count = len(score)
    picked = np.arange(count)
    if count > n:
        nth = np.partition(score, count - n)[count - n]
        picked = np.flatnonzero(score >= nth)
    picked = picked[np.lexsort((distance[picked], -score[picked]))]
    # Ties on (score, distance) at the n-th place are ordered by id: keep all of them.
    cut = min(n, len(picked))
    while cut < len(picked) and (
        score[picked[cut]] == score[picked[n - 1]]
        and distance[picked[cut]] == distance[picked[n - 1]]
    ):
        cut += 1
    head = picked[:cut]
    keyed = sorted(
        zip(
            (-score[head]).tolist(),
            distance[head].tolist(),
            [ids[slot] for slot in slots[head].tolist()],
            head.tolist(),
            strict=True,
        )
    )
    return [position for *_, position in keyed[:n]]


def _top(
    columns: Columns,
    passed: Feasible,
    positions: list[int],
    score: Floats,
    components: dict[str, Floats],
    needed: str,
) -> list[_Scored]:
    """The chosen candidates as Python values (one `tolist` per column, not per value)."""
    picked = np.array(positions, dtype=np.intp)
    values = {name: column[picked].tolist() for name, column in components.items()}
    rows = passed.rows.take(picked)
    return [
        _Scored(
            slot=slot,
            score=total,
            distance=distance,
            code=_offered_code(columns.categories.values[combo], needed),
            components={name: column[j] for name, column in values.items()},
            kind=KINDS[kind],
            capacity_remaining=remaining,
            unit=columns.units.values[unit],
        )
        for j, (slot, total, distance, combo, kind, remaining, unit) in enumerate(
            zip(
                passed.slots[picked].tolist(),
                score[picked].tolist(),
                passed.distance[picked].tolist(),
                rows["categories"].tolist(),
                rows["kind"].tolist(),
                rows["capacity_remaining"].tolist(),
                rows["unit"].tolist(),
                strict=True,
            )
        )
    ]


def _offered_code(categories: tuple[str, ...], needed: str) -> str:
    _, code = taxonomy.best_fit(list(categories), needed)
    assert code is not None  # a feasible candidate fits the need
    return code


def _rerank(top: list[_Scored], reranker: Reranker) -> tuple[list[_Scored], list[Reranking | None]]:
    """Order the hand score's top candidates by the model's probability (hand order breaks ties)."""
    probabilities = [reranker.probability(s.components) for s in top]
    order = sorted(range(len(top)), key=lambda i: (-probabilities[i], i))
    notes: list[Reranking | None] = [
        Reranking(
            model_id=reranker.model_id, probability=round(probabilities[i], 6), hand_rank=i + 1
        )
        for i in order
    ]
    return [top[i] for i in order], notes


def _ranked(
    columns: Columns,
    scored: _Scored,
    params: ScoreParams,
    query: RankRequest,
    reranking: Reranking | None,
) -> dict[str, Any]:
    """One result, as the fields of a `RankedResource` (validated with the whole reply)."""
    filters = list(FILTERS)
    if query.max_distance_km is not None:
        filters.append("max_distance")
    return {
        "resource_id": columns.ids[scored.slot],
        "name": columns.names[scored.slot],
        "kind": scored.kind,
        "score": round(scored.score, 6),
        "distance_km": round(scored.distance, 3),
        "capacity_remaining": scored.capacity_remaining,
        "capacity_unit": scored.unit,
        "explanation": {
            "components": {k: round(v, 6) for k, v in scored.components.items()},
            "weights": params.weights,
            "filters_passed": filters,
            "category_offered": scored.code,
            "reranker": reranking,
        },
    }

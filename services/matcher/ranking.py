"""Ranking: hard filters that are never violated, then an explained, weighted score, then
(when a trained model is present) a learned re-ranking of the top candidates."""

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass

from services.matcher.index import Entry, ResourceIndex
from services.matcher.reranker import Reranker
from services.matcher.text import QueryWeights
from shared import divisions, taxonomy
from shared.contracts.matcher import (
    Explanation,
    RankedResource,
    RankReply,
    RankRequest,
    Reranking,
)
from shared.geo import haversine_km

FILTERS = ("active", "category", "capacity", "service_area", "eligibility", "not_excluded")
COMPONENTS = ("category", "distance", "headroom", "text", "load")


@dataclass(frozen=True)
class ScoreParams:
    """The knobs of the score, from the matcher's settings."""

    weights: dict[str, float]
    distance_scale_km: float
    load_scale: float
    rerank_top_n: int = 30


@dataclass(slots=True)
class _Scored:
    entry: Entry
    score: float
    distance: float
    code: str
    components: dict[str, float]


def hand_score(*, components: dict[str, float], weights: dict[str, float]) -> float:
    """The hand-weighted score: the weighted sum of the components."""
    return sum(weights.get(name, 0.0) * value for name, value in components.items())


def rank_resources(
    *,
    index: ResourceIndex,
    query: RankRequest,
    params: ScoreParams,
    reranker: Reranker | None = None,
) -> RankReply:
    """The top `query.k` feasible resources for a need, best first, each explained."""
    candidates = index.candidates(
        offered=taxonomy.compatible_offers(query.category),
        lat=query.lat,
        lon=query.lon,
        adcodes=divisions.ancestors(query.adcode) if query.adcode else [],
        max_distance_km=query.max_distance_km,
    )
    return rank_among(
        index=index, query=query, params=params, candidate_ids=candidates, reranker=reranker
    )


def rank_among(
    *,
    index: ResourceIndex,
    query: RankRequest,
    params: ScoreParams,
    candidate_ids: Iterable[str],
    reranker: Reranker | None = None,
) -> RankReply:
    """Rank the given candidates (all of the index, for a brute-force check) for a need."""
    context = FilterContext(
        adcodes=set(divisions.ancestors(query.adcode)) if query.adcode else set(),
        excluded=set(query.exclude),
        fits={},
    )
    q_text = index.text.weigh(query.text)
    scored: list[_Scored] = []
    considered = 0
    for resource_id in candidate_ids:
        considered += 1
        entry = index.entries[resource_id]
        passed = feasible(entry=entry, query=query, context=context)
        if passed is not None:
            scored.append(_score(index, entry, passed, q_text, query, params))
    # Ties broken by distance, then id: the same index and request always give the same list.
    top_n = max(query.k, params.rerank_top_n) if reranker is not None else query.k
    top = heapq.nsmallest(top_n, scored, key=lambda s: (-s.score, s.distance, s.entry.resource_id))
    rerankings: list[Reranking | None] = [None] * len(top)
    if reranker is not None:
        top, rerankings = _rerank(top, reranker)
    results = [
        _ranked(s, params, query, rerank)
        for s, rerank in zip(top[: query.k], rerankings[: query.k], strict=True)
    ]
    return RankReply(results=results, candidates_considered=considered, index_size=len(index))


@dataclass(slots=True)
class FilterContext:
    """What one request's filters reuse across candidates."""

    adcodes: set[str]
    excluded: set[str]
    fits: dict[tuple[str, ...], tuple[float, str | None]]


def feasible(
    *, entry: Entry, query: RankRequest, context: FilterContext
) -> tuple[float, float, str] | None:
    """(distance, category fit, offered code) when every hard filter passes, else None."""
    # Cheapest checks first: most candidates of a busy area fail one of them.
    if not entry.active or entry.resource_id in context.excluded:
        return None
    if entry.capacity_remaining < query.quantity and not entry.waitlist:
        return None
    if entry.eligible_groups and entry.eligible_groups.isdisjoint(query.groups):
        return None
    best = context.fits.get(entry.categories)
    if best is None:
        best = context.fits[entry.categories] = taxonomy.best_fit(
            list(entry.categories), query.category
        )
    fit, code = best
    if code is None:
        return None
    distance = haversine_km(query.lat, query.lon, entry.lat, entry.lon)
    if query.max_distance_km is not None and distance > query.max_distance_km:
        return None
    in_radius = entry.radius_km is not None and distance <= entry.radius_km
    if not in_radius and context.adcodes.isdisjoint(entry.adcodes):
        return None
    return distance, fit, code


def _score(
    index: ResourceIndex,
    entry: Entry,
    passed: tuple[float, float, str],
    q_text: QueryWeights,
    query: RankRequest,
    params: ScoreParams,
) -> _Scored:
    distance, fit, code = passed
    components = {
        "category": fit,
        "distance": math.exp(-distance / params.distance_scale_km),
        "headroom": _headroom(entry, query.quantity),
        "text": index.text.similarity(q_text, entry.terms),
        "load": 1.0 / (1.0 + entry.open_referrals / params.load_scale),
    }
    score = hand_score(components=components, weights=params.weights)
    return _Scored(entry, score, distance, code, components)


def _headroom(entry: Entry, quantity: int) -> float:
    if entry.capacity_total <= 0:
        return 0.0
    return max(0.0, min(1.0, (entry.capacity_remaining - quantity) / entry.capacity_total))


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
    scored: _Scored, params: ScoreParams, query: RankRequest, reranking: Reranking | None
) -> RankedResource:
    entry = scored.entry
    filters = list(FILTERS)
    if query.max_distance_km is not None:
        filters.append("max_distance")
    return RankedResource(
        resource_id=entry.resource_id,
        name=entry.name,
        kind=entry.kind,
        score=round(scored.score, 6),
        distance_km=round(scored.distance, 3),
        capacity_remaining=entry.capacity_remaining,
        capacity_unit=entry.capacity_unit,
        explanation=Explanation(
            components={k: round(v, 6) for k, v in scored.components.items()},
            weights=params.weights,
            filters_passed=filters,
            category_offered=scored.code,
            reranker=reranking,
        ),
    )

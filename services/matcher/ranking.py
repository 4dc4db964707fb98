"""Ranking: hard filters that are never violated, then an explained, weighted score."""

import math
from dataclasses import dataclass

from services.matcher.index import Entry, ResourceIndex
from services.matcher.text import ngrams
from shared import divisions, taxonomy
from shared.contracts.matcher import Explanation, RankedResource, RankReply, RankRequest
from shared.contracts.resources import CapacityMode
from shared.geo import haversine_km

FILTERS = ("active", "category", "capacity", "service_area", "eligibility", "not_excluded")


@dataclass(frozen=True)
class ScoreParams:
    """The knobs of the score, from the matcher's settings."""

    weights: dict[str, float]
    distance_scale_km: float
    load_scale: float


def rank_resources(*, index: ResourceIndex, query: RankRequest, params: ScoreParams) -> RankReply:
    """The top `query.k` feasible resources for a need, best first, each explained."""
    offered = taxonomy.compatible_offers(query.category)
    adcodes = divisions.ancestors(query.adcode) if query.adcode else []
    candidates = index.candidates(
        offered=offered,
        lat=query.lat,
        lon=query.lon,
        adcodes=adcodes,
        max_distance_km=query.max_distance_km,
    )
    q_text = index.text.weigh(ngrams(query.text))
    excluded = set(query.exclude)
    ranked: list[RankedResource] = []
    for resource_id in candidates:
        entry = index.entries[resource_id]
        passed = _feasible(entry, query, adcodes, excluded)
        if passed is None:
            continue
        distance, fit, code = passed
        components = {
            "category": fit,
            "distance": math.exp(-distance / params.distance_scale_km),
            "headroom": _headroom(entry, query.quantity),
            "text": index.text.similarity(q_text, entry.grams),
            "load": 1.0 / (1.0 + entry.state.open_referrals / params.load_scale),
        }
        score = sum(params.weights[name] * value for name, value in components.items())
        ranked.append(_ranked(entry, score, distance, code, components, params, query))
    ranked.sort(key=lambda r: (-r.score, r.distance_km, r.resource_id))
    return RankReply(
        results=ranked[: query.k], candidates_considered=len(candidates), index_size=len(index)
    )


def _feasible(
    entry: Entry, query: RankRequest, adcodes: list[str], excluded: set[str]
) -> tuple[float, float, str] | None:
    """(distance, category fit, offered code) when every hard filter passes, else None."""
    state = entry.state
    if not state.active or state.resource_id in excluded:
        return None
    fit, code = taxonomy.best_fit(state.categories, query.category)
    if code is None:
        return None
    if state.capacity_remaining < query.quantity and state.capacity_mode != CapacityMode.WAITLIST:
        return None
    distance = haversine_km(query.lat, query.lon, state.lat, state.lon)
    if query.max_distance_km is not None and distance > query.max_distance_km:
        return None
    in_radius = state.radius_km is not None and distance <= state.radius_km
    if not in_radius and not set(adcodes) & set(state.adcodes):
        return None
    if state.eligible_groups and not set(state.eligible_groups) & set(query.groups):
        return None
    return distance, fit, code


def _headroom(entry: Entry, quantity: int) -> float:
    state = entry.state
    if state.capacity_total <= 0:
        return 0.0
    return max(0.0, min(1.0, (state.capacity_remaining - quantity) / state.capacity_total))


def _ranked(
    entry: Entry,
    score: float,
    distance: float,
    code: str,
    components: dict[str, float],
    params: ScoreParams,
    query: RankRequest,
) -> RankedResource:
    state = entry.state
    filters = list(FILTERS)
    if query.max_distance_km is not None:
        filters.append("max_distance")
    return RankedResource(
        resource_id=state.resource_id,
        name=state.name,
        kind=state.kind,
        score=round(score, 6),
        distance_km=round(distance, 3),
        capacity_remaining=state.capacity_remaining,
        capacity_unit=state.capacity_unit,
        explanation=Explanation(
            components={k: round(v, 6) for k, v in components.items()},
            weights=params.weights,
            filters_passed=filters,
            category_offered=code,
        ),
    )

"""A scalar ranking from first principles, one resource state at a time, written independently
of the matcher's vectorised path: the rules as the documentation states them, with `math` and
plain Python. The matcher must give the same results (ids, order, scores, explanations)."""

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from services.matcher.ranking import ScoreParams
from shared import divisions, taxonomy
from shared.contracts.matcher import RankedResource, RankRequest
from shared.contracts.resources import ResourceUpserted
from shared.geo import haversine_km

_SKIP = set(" \t\n\r,.;:!?，。；：！？、（）()《》“”\"'")
_COUNT_MAX = 15


@dataclass(frozen=True)
class Ranked:
    """One result as the matcher reports it (rounded as it rounds)."""

    resource_id: str
    score: float
    distance_km: float
    components: dict[str, float]
    category_offered: str


def as_reference(result: RankedResource) -> Ranked:
    """A matcher result in the reference's terms."""
    return Ranked(
        resource_id=result.resource_id,
        score=result.score,
        distance_km=result.distance_km,
        components=result.explanation.components,
        category_offered=result.explanation.category_offered,
    )


def _grams(text: str) -> Counter[str]:
    chars = [c for c in text.lower() if c not in _SKIP]
    grams: Counter[str] = Counter(chars)
    grams.update(chars[i] + chars[i + 1] for i in range(len(chars) - 1))
    return grams


def _similarity(query: str, document: str, df: Counter[str], documents: int) -> float:
    def idf(gram: str) -> float:
        return math.log((1 + documents) / (1 + df[gram])) + 1.0

    q_weights: dict[str, float] = {}
    q_norm2 = 0.0
    for gram, count in _grams(query).items():
        weight = count * idf(gram)
        if df[gram]:
            q_weights[gram] = weight
        q_norm2 += weight * weight
    if not q_weights:
        return 0.0
    dot = norm2 = 0.0
    for gram, count in _grams(document).items():
        weight = min(count, _COUNT_MAX) * idf(gram)
        norm2 += weight * weight
        if gram in q_weights:
            dot += q_weights[gram] * weight
    return min(1.0, dot / (math.sqrt(q_norm2) * math.sqrt(norm2))) if norm2 else 0.0


def _day(query: RankRequest) -> date:
    """The day asked about: the request's, else today in China (UTC+8, no daylight saving)."""
    return query.on or datetime.now(timezone(timedelta(hours=8))).date()


def _feasible(s: ResourceUpserted, query: RankRequest, distance: float) -> bool:
    areas = set(divisions.ancestors(query.adcode)) if query.adcode else set()
    in_radius = s.radius_km is not None and distance <= s.radius_km
    day = _day(query)
    return (
        (s.available_from is None or s.available_from <= day)
        and (s.available_until is None or day <= s.available_until)
        and s.active
        and s.resource_id not in query.exclude
        and s.capacity_unit == query.unit
        and (s.capacity_remaining >= query.quantity or s.capacity_mode == "waitlist")
        and (not s.eligible_groups or bool(set(s.eligible_groups) & set(query.groups)))
        and taxonomy.best_fit(s.categories, query.category)[1] is not None
        and (query.max_distance_km is None or distance <= query.max_distance_km)
        and (in_radius or bool(areas & set(s.adcodes)))
    )


def reference_ranking(
    states: list[ResourceUpserted], query: RankRequest, params: ScoreParams
) -> list[Ranked]:
    """The top `query.k` of `states` (latest state per resource) for the need."""
    active = [s for s in states if s.active]
    df: Counter[str] = Counter()
    for s in active:
        df.update(set(_grams(f"{s.name} {s.description}")))
    scored = []
    for s in states:
        distance = haversine_km(query.lat, query.lon, s.lat, s.lon)
        if not _feasible(s, query, distance):
            continue
        fit, code = taxonomy.best_fit(s.categories, query.category)
        headroom = 0.0
        if s.capacity_total > 0:
            headroom = max(
                0.0, min(1.0, (s.capacity_remaining - query.quantity) / s.capacity_total)
            )
        components = {
            "category": fit,
            "distance": math.exp(-distance / params.distance_scale_km),
            "headroom": headroom,
            "text": _similarity(query.text, f"{s.name} {s.description}", df, len(active)),
            "load": 1.0 / (1.0 + s.open_referrals / params.load_scale),
        }
        score = 0.0
        for name, value in components.items():
            score += params.weights.get(name, 0.0) * value
        scored.append((-score, distance, s.resource_id, code, components))
    scored.sort(key=lambda t: t[:3])
    return [
        Ranked(
            resource_id=rid,
            score=round(-neg, 6),
            distance_km=round(distance, 3),
            components={k: round(v, 6) for k, v in components.items()},
            category_offered=str(code),
        )
        for neg, distance, rid, code, components in scored[: query.k]
    ]

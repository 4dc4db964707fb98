"""Builders of resource states and rank requests for the matcher's tests."""

from datetime import UTC, datetime
from typing import Any

from services.matcher.index import ResourceIndex
from services.matcher.ranking import ScoreParams
from services.matcher.settings import Weights
from shared.contracts.matcher import RankRequest
from shared.contracts.resources import ResourceUpserted

CENTER = (28.73, 105.07)  # 江安县
PARAMS = ScoreParams(
    weights=Weights().as_dict(), distance_scale_km=10.0, load_scale=5.0, rerank_top_n=30
)


def state(resource_id: str = "r1", **overrides: Any) -> ResourceUpserted:
    """A resource state near the centre, serving elderly meals within 10 km."""
    body: dict[str, Any] = {
        "resource_id": resource_id,
        "version": 1,
        "name": "爱心助餐点",
        "kind": "enterprise",
        "categories": ["elderly_care.meals"],
        "description": "为独居老人助餐送餐",
        "lat": CENTER[0],
        "lon": CENTER[1],
        "radius_km": 10.0,
        "capacity_total": 10,
        "capacity_remaining": 10,
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    body.update(overrides)
    return ResourceUpserted.model_validate(body)


def request(**overrides: Any) -> RankRequest:
    """A need at the centre for elderly meals."""
    body: dict[str, Any] = {
        "category": "elderly_care.meals",
        "lat": CENTER[0],
        "lon": CENTER[1],
        "k": 10,
    }
    body.update(overrides)
    return RankRequest.model_validate(body)


def index_of(*states: ResourceUpserted, **options: Any) -> ResourceIndex:
    """An index holding `states`, applied in order."""
    index = ResourceIndex(**options)
    for s in states:
        index.apply(s)
    return index


def north_of(km: float) -> tuple[float, float]:
    """The point `km` kilometres due north of the centre."""
    return CENTER[0] + km / 111.195, CENTER[1]

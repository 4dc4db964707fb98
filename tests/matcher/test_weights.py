"""The score components are listed once: the weights setting is built from the list, every
ranked result is explained by exactly those components, and a weight that names no component
stops the matcher instead of weighing 0."""

import pytest
from pydantic import ValidationError

from services.matcher.components import COMPONENTS, SCORE_COMPONENTS
from services.matcher.ranking import ScoreParams, rank_resources
from services.matcher.settings import MatcherSettings, Weights
from tests.matcher.factories import PARAMS, index_of, request, state


def test_weights_have_one_field_per_component_with_its_default() -> None:
    assert tuple(Weights.model_fields) == COMPONENTS
    assert Weights().model_dump() == {c.name: c.weight for c in SCORE_COMPONENTS}


def test_a_ranked_result_is_explained_by_every_component_in_order() -> None:
    reply = rank_resources(index=index_of(state("r1")), query=request(), params=PARAMS)
    explanation = reply.results[0].explanation
    assert tuple(explanation.components) == COMPONENTS
    assert tuple(explanation.weights) == COMPONENTS


def test_a_misspelt_weight_in_the_environment_stops_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIANJIE_MATCHER_WEIGHTS__DISTANSE", "0.5")
    with pytest.raises(ValidationError, match="distanse"):
        MatcherSettings()


def test_a_known_weight_in_the_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANJIE_MATCHER_WEIGHTS__DISTANCE", "0.6")
    assert MatcherSettings().weights.model_dump()["distance"] == 0.6


@pytest.mark.parametrize(
    ("weights", "complaint"),
    [
        ({**PARAMS.weights, "distanse": 0.1}, "unknown: distanse"),
        ({k: v for k, v in PARAMS.weights.items() if k != "load"}, "missing: load"),
    ],
)
def test_score_params_refuse_weights_that_are_not_the_components(
    weights: dict[str, float], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        ScoreParams(weights=weights, distance_scale_km=10.0, load_scale=5.0)

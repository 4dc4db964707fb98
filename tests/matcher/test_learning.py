"""Learning from outcomes: labels, NDCG@5, training, and the ranker using the model."""

from pathlib import Path

import pytest

from services.matcher.learning import (
    NotEnoughOutcomes,
    examples_from,
    label_of,
    ndcg_at_k,
    train_reranker,
)
from services.matcher.reranker import load_reranker, model_path, save_reranker
from services.matcher.service import Ranker
from services.matcher.settings import MatcherSettings
from shared.contracts.needs import ReferralEvent, ReferralOutcome
from shared.settings import CommonSettings
from tests.matcher.factories import north_of, request, state
from tests.matcher.outcomes import WEIGHTS, referral_events


def event(state_: str, outcome: ReferralOutcome | None = None) -> ReferralEvent:
    return referral_events(needs=1)[0].model_copy(update={"state": state_, "outcome": outcome})


@pytest.mark.parametrize(
    ("state_", "result", "satisfaction", "label"),
    [
        ("completed", "met", None, 1),
        ("completed", "partly_met", 2, 1),
        ("completed", "not_met", 4, 1),
        ("completed", "not_met", 3, 0),
        ("declined", None, None, 0),
        ("failed", None, None, 0),
        ("accepted", None, None, None),
        ("sent", None, None, None),
    ],
)
def test_outcomes_are_labelled_good_bad_or_not_yet(
    state_: str, result: str | None, satisfaction: int | None, label: int | None
) -> None:
    outcome = ReferralOutcome(result=result, satisfaction=satisfaction) if result else None  # type: ignore[arg-type]
    assert label_of(event=event(state_, outcome)) == label


def test_each_referral_gives_one_example_from_its_latest_labelled_event() -> None:
    events = referral_events(needs=10)
    examples = examples_from(events=events, weights=WEIGHTS)
    assert len(examples) == 40
    assert len({(e.need_id, e.resource_id) for e in examples}) == 40
    no_snapshot = [e.model_copy(update={"match": None}) for e in events]
    assert examples_from(events=no_snapshot, weights=WEIGHTS) == []


def test_ndcg_at_5_is_one_for_the_ideal_order_and_less_otherwise() -> None:
    ids = ["a", "b", "c"]
    assert ndcg_at_k(labels=[1, 0, 0], scores=[0.9, 0.5, 0.1], ids=ids) == 1.0
    worse = ndcg_at_k(labels=[1, 0, 0], scores=[0.1, 0.5, 0.9], ids=ids)
    assert worse == pytest.approx(0.5)
    assert ndcg_at_k(labels=[0, 0, 0], scores=[0.1, 0.5, 0.9], ids=ids) == 0.0


def test_the_trained_model_beats_the_hand_score_on_held_out_needs() -> None:
    examples = examples_from(events=referral_events(needs=150), weights=WEIGHTS)
    reranker = train_reranker(examples=examples, min_examples=200, held_out=0.25)
    assert reranker.examples == 600
    assert reranker.held_out_groups == pytest.approx(150 * 0.25, abs=1)
    assert reranker.ndcg5_model > reranker.ndcg5_hand + 0.05
    assert reranker.beats_hand_score
    coefficients = dict(zip(reranker.features, reranker.coefficients, strict=True))
    assert coefficients["headroom"] > 0 and coefficients["load"] > 0 > coefficients["distance"]


def test_without_enough_outcomes_no_model_is_trained() -> None:
    examples = examples_from(events=referral_events(needs=10), weights=WEIGHTS)
    with pytest.raises(NotEnoughOutcomes, match="40 labelled outcomes"):
        train_reranker(examples=examples, min_examples=200, held_out=0.25)


def ranker_in(var_dir: Path) -> Ranker:
    ranker = Ranker(MatcherSettings(common=CommonSettings(var_dir=var_dir)))
    # Tight and busy near the need, roomy and quiet a little further: the model prefers the latter.
    ranker.index.apply(state("near", capacity_remaining=1, open_referrals=9, radius_km=20))
    ranker.index.apply(state("far", lat=north_of(12)[0], capacity_remaining=10, radius_km=20))
    ranker.index.rebuild_all()
    return ranker


def test_the_ranker_reranks_with_a_trained_model_and_says_so(tmp_path: Path) -> None:
    ranker = ranker_in(tmp_path)
    before = ranker.rank(request())
    assert [r.resource_id for r in before.results] == ["near", "far"]
    assert all(r.explanation.reranker is None for r in before.results)

    examples = examples_from(events=referral_events(needs=150), weights=WEIGHTS)
    reranker = train_reranker(examples=examples, min_examples=200, held_out=0.25)
    save_reranker(reranker=reranker, path=model_path(var_dir=tmp_path))
    assert load_reranker(path=model_path(var_dir=tmp_path)) == reranker
    assert ranker.reload_model() == reranker

    after = ranker.rank(request())
    assert [r.resource_id for r in after.results] == ["far", "near"]
    notes = [r.explanation.reranker for r in after.results]
    assert [n.hand_rank for n in notes if n] == [2, 1]
    assert all(n is not None and n.model_id == reranker.model_id for n in notes)
    assert notes[0].probability > notes[1].probability  # type: ignore[union-attr]


def test_a_model_worse_than_the_hand_score_is_loaded_but_not_applied(tmp_path: Path) -> None:
    examples = examples_from(events=referral_events(needs=150), weights=WEIGHTS)
    reranker = train_reranker(examples=examples, min_examples=200, held_out=0.25)
    worse = reranker.model_copy(update={"ndcg5_model": reranker.ndcg5_hand - 0.01})
    save_reranker(reranker=worse, path=model_path(var_dir=tmp_path))
    ranker = ranker_in(tmp_path)
    assert ranker.model == worse and ranker.reranker is None
    assert [r.resource_id for r in ranker.rank(request()).results] == ["near", "far"]


def test_an_unreadable_model_file_leaves_the_hand_score_ranking(tmp_path: Path) -> None:
    ranker = ranker_in(tmp_path)
    path = model_path(var_dir=tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    ranker._next_check = 0.0  # look for the file now rather than after the check interval
    assert [r.resource_id for r in ranker.rank(request()).results] == ["near", "far"]
    assert ranker.model is None

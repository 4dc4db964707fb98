"""Learning from outcomes: referral events become labelled examples, a logistic model is fitted
on their score components, and it is judged by NDCG@5 on held-out needs against the
hand-weighted score before the matcher may use it to re-rank.
"""

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupShuffleSplit

from services.matcher.components import COMPONENTS
from services.matcher.ranking import hand_score
from services.matcher.reranker import Reranker
from shared.contracts.needs import REFERRAL_UNSERVED_STATES, ReferralEvent
from shared.errors import Conflict

GOOD_RESULTS = frozenset({"met", "partly_met"})
GOOD_SATISFACTION = 4
NDCG_K = 5


class NotEnoughOutcomes(Conflict):
    """Too few labelled outcomes to train or to judge a re-ranker: it stays off."""

    title = "Not enough outcomes"


@dataclass(frozen=True, slots=True)
class Example:
    """One referral's outcome with the score components it was ranked on."""

    need_id: str
    resource_id: str
    components: dict[str, float]
    hand_score: float
    label: int


def label_of(*, event: ReferralEvent) -> int | None:
    """1 for a good outcome, 0 for a bad one, None while the referral has no outcome yet."""
    outcome = event.outcome
    if outcome is not None and (
        outcome.result in GOOD_RESULTS or (outcome.satisfaction or 0) >= GOOD_SATISFACTION
    ):
        return 1
    if event.state in REFERRAL_UNSERVED_STATES or (
        outcome is not None and outcome.result == "not_met"
    ):
        return 0
    return None


def examples_from(*, events: Iterable[ReferralEvent], weights: dict[str, float]) -> list[Example]:
    """One example per referral: its latest labelled event that carries a full match snapshot."""
    latest: dict[str, tuple[ReferralEvent, int]] = {}
    for event in events:
        label = label_of(event=event)
        if label is None or event.match is None:
            continue
        if not all(name in event.match.components for name in COMPONENTS):
            continue
        seen = latest.get(event.referral_id)
        if seen is None or event.version > seen[0].version:
            latest[event.referral_id] = (event, label)
    examples = []
    for referral_id in sorted(latest):
        event, label = latest[referral_id]
        assert event.match is not None
        components = {name: event.match.components[name] for name in COMPONENTS}
        score = event.match.score
        if score is None:
            score = hand_score(components=components, weights=weights)
        examples.append(Example(event.need_id, event.resource_id, components, score, label))
    return examples


def ndcg_at_k(*, labels: list[int], scores: list[float], ids: list[str], k: int = NDCG_K) -> float:
    """NDCG@k of one need's outcomes ordered by `scores` (ties: by id); 0 without a good one."""
    order = sorted(range(len(labels)), key=lambda i: (-scores[i], ids[i]))
    dcg = sum(labels[i] / math.log2(rank + 2) for rank, i in enumerate(order[:k]))
    ideal = sorted(labels, reverse=True)
    idcg = sum(label / math.log2(rank + 2) for rank, label in enumerate(ideal[:k]))
    return dcg / idcg if idcg else 0.0


def mean_ndcg(*, examples: list[Example], scores: list[float], k: int = NDCG_K) -> float:
    """Mean NDCG@k over needs with two or more outcomes, at least one good (the only ones
    where an order can be right or wrong); NaN when there are none."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        groups[example.need_id].append(i)
    values = [
        ndcg_at_k(
            labels=[examples[i].label for i in members],
            scores=[scores[i] for i in members],
            ids=[examples[i].resource_id for i in members],
            k=k,
        )
        for members in groups.values()
        if len(members) >= 2 and any(examples[i].label for i in members)
    ]
    return float(np.mean(values)) if values else math.nan


def _features(examples: list[Example]) -> np.ndarray:
    return np.array([[e.components[name] for name in COMPONENTS] for e in examples], dtype=float)


def _fit(examples: list[Example]) -> LogisticRegression:
    labels = [e.label for e in examples]
    if len(set(labels)) < 2:
        raise NotEnoughOutcomes("the outcomes are all good or all bad: nothing to learn from")
    return LogisticRegression(C=1.0, max_iter=1000).fit(_features(examples), labels)


def train_reranker(
    *, examples: list[Example], min_examples: int, held_out: float, seed: int = 0
) -> Reranker:
    """Fit on the training needs, judge on the held-out needs, then refit on all of them."""
    if len(examples) < min_examples:
        raise NotEnoughOutcomes(
            f"{len(examples)} labelled outcomes, fewer than the {min_examples} needed"
        )
    groups = [e.need_id for e in examples]
    split = GroupShuffleSplit(n_splits=1, test_size=held_out, random_state=seed)
    train_idx, test_idx = next(split.split(np.zeros(len(examples)), groups=groups))
    train = [examples[i] for i in train_idx]
    test = [examples[i] for i in test_idx]
    model = _fit(train)
    model_scores = [float(p) for p in model.predict_proba(_features(test))[:, 1]]
    ndcg_model = mean_ndcg(examples=test, scores=model_scores)
    ndcg_hand = mean_ndcg(examples=test, scores=[e.hand_score for e in test])
    if math.isnan(ndcg_model):
        raise NotEnoughOutcomes("no held-out need has two or more outcomes with a good one")
    final = _fit(examples)
    trained_at = datetime.now(UTC)
    return Reranker(
        model_id=f"logistic-{trained_at:%Y%m%dT%H%M%SZ}-{len(examples)}",
        features=list(COMPONENTS),
        coefficients=[float(c) for c in final.coef_[0]],
        intercept=float(final.intercept_[0]),
        trained_at=trained_at,
        examples=len(examples),
        held_out_groups=len(set(e.need_id for e in test)),
        ndcg5_model=round(ndcg_model, 6),
        ndcg5_hand=round(ndcg_hand, 6),
    )

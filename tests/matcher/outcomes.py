"""Synthetic referral outcomes: residents were better served by roomy, little-loaded resources
than the hand weights (which favour distance) expect, so a learned re-ranker can beat them."""

import math
from datetime import UTC, datetime

import numpy as np

from services.matcher.components import COMPONENTS
from services.matcher.ranking import hand_score
from services.matcher.settings import Weights
from shared.contracts.needs import MatchSnapshot, ReferralEvent, ReferralOutcome

WEIGHTS = Weights().as_dict()


def referral_events(*, needs: int, seed: int = 7) -> list[ReferralEvent]:
    """For each need 4 referrals, each sent and then completed (met / not met) or declined."""
    rng = np.random.default_rng(seed)
    events = []
    for n in range(needs):
        for r in range(4):
            components = {name: round(float(rng.uniform(0, 1)), 4) for name in COMPONENTS}
            good = 6 * components["headroom"] + 6 * components["load"] - 4 * components["distance"]
            label = rng.random() < 1 / (1 + math.exp(-(good - 4)))
            base = {
                "referral_id": f"ref-{n}-{r}",
                "need_id": f"need-{n}",
                "resource_id": f"res-{r}",
                "category": "elderly_care.meals",
                "urgency": 3,
                "adcode": "511523",
                "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
                "match": MatchSnapshot(
                    rank_position=r + 1,
                    score=round(hand_score(components=components, weights=WEIGHTS), 6),
                    components=components,
                ),
            }
            events.append(ReferralEvent(state="sent", version=1, **base))
            if label:
                outcome = ReferralOutcome(result="met", satisfaction=5)
                events.append(ReferralEvent(state="completed", version=2, outcome=outcome, **base))
            elif rng.random() < 0.5:
                events.append(ReferralEvent(state="declined", version=2, **base))
            else:
                outcome = ReferralOutcome(result="not_met", satisfaction=2)
                events.append(ReferralEvent(state="completed", version=2, outcome=outcome, **base))
    return events

"""The score's components (评分分项), listed once: the weights setting (`Weights`), the order
the ranking adds them up in and the re-ranker's features all come from this list."""

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Component:
    """One part of a resource's score, with its default weight."""

    name: str
    weight: float
    description: str


SCORE_COMPONENTS = (
    Component("category", 0.30, "Weight of the category fit"),
    Component("distance", 0.30, "Weight of the distance decay"),
    Component("headroom", 0.15, "Weight of the remaining capacity's headroom"),
    Component("text", 0.15, "Weight of the text relevance (TF-IDF)"),
    Component("load", 0.10, "Weight of load spreading (fewer open referrals)"),
)
COMPONENTS = tuple(component.name for component in SCORE_COMPONENTS)


def check_weights(weights: Mapping[str, float]) -> None:
    """ValueError unless `weights` names every component and nothing else: a misspelt weight
    must not weigh 0 without a word."""
    unknown = sorted(set(weights) - set(COMPONENTS))
    missing = [name for name in COMPONENTS if name not in weights]
    if unknown or missing:
        raise ValueError(
            f"score weights must name exactly the components {', '.join(COMPONENTS)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )

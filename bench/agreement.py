"""Do two methods return the same top-k? Exactly, and within the rounding tolerance.

Tolerance rule: two answers agree when they have the same length and, position by position,
scores differ by at most 2e-6 (two units of the 6th decimal the matcher rounds to). Answers that
agree this way but not exactly differ only in how resources with equal rounded scores were
ordered, or in which of several equally scored resources made the k-th place.
"""

from dataclasses import asdict, dataclass
from typing import Any

from bench.data import TopK

SCORE_TOLERANCE = 2e-6


@dataclass(frozen=True)
class Agreement:
    """How many sampled answers are identical, and how many agree within the tolerance."""

    sample: int
    identical: int
    within_tolerance: int
    first_disagreement: dict[str, Any] | None

    @property
    def identical_fraction(self) -> float:
        return self.identical / self.sample if self.sample else 0.0

    @property
    def tolerant_fraction(self) -> float:
        return self.within_tolerance / self.sample if self.sample else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["identical_fraction"] = round(self.identical_fraction, 4)
        out["tolerant_fraction"] = round(self.tolerant_fraction, 4)
        return out


def _tolerant(a: TopK, b: TopK) -> bool:
    return len(a) == len(b) and all(
        abs(x[1] - y[1]) <= SCORE_TOLERANCE for x, y in zip(a, b, strict=True)
    )


def compare(reference: list[TopK], other: list[TopK]) -> Agreement:
    """Compare answers query by query (both lists in the same query order)."""
    identical = tolerant = 0
    first: dict[str, Any] | None = None
    for i, (a, b) in enumerate(zip(reference, other, strict=True)):
        if [r for r, _ in a] == [r for r, _ in b]:
            identical += 1
            tolerant += 1
            continue
        if _tolerant(a, b):
            tolerant += 1
        if first is None:
            first = {"query": i, "reference": a, "other": b}
    return Agreement(len(reference), identical, tolerant, first)

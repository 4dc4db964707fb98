"""The benchmark's data: province-scale resources and needs from the demo generator."""

from dataclasses import dataclass

from shared import demo
from shared.contracts.matcher import RankRequest
from shared.contracts.resources import ResourceUpserted

TopK = list[tuple[str, float]]
"""One answer: (resource id, score) best first, as every method reports it."""


@dataclass
class Dataset:
    """Resources (public states, version 1) and the needs to rank against them."""

    seed: int
    province: str
    resources: list[ResourceUpserted]
    needs: list[RankRequest]

    @property
    def size(self) -> int:
        return len(self.resources)


def load(*, seed: int, province: str, size: int, queries: int, k: int = 10) -> Dataset:
    """The same seed and sizes give the same data."""
    return Dataset(
        seed=seed,
        province=province,
        resources=demo.province_resources(seed=seed, province=province, count=size),
        needs=demo.province_needs(seed=seed, province=province, count=queries, k=k),
    )

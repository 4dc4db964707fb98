"""The floor of ranking: a scikit-learn `BallTree` (haversine) k-nearest query over the same
points, and nothing else (no category, capacity or area rule, no score). The matcher's
in-process ranking is held against it: the cost of filters and scoring over pure geometry."""

import numpy as np
from sklearn.neighbors import BallTree

from bench.latency import Summary, now, summarize
from services.matcher.columns import Rows
from shared.contracts.matcher import RankRequest


def tree_of(rows: Rows) -> tuple[BallTree, float]:
    """A tree over the records' points (radians, as the haversine metric takes them) and the
    seconds its build took."""
    start = now()
    points = np.radians(np.column_stack((rows["lat"], rows["lon"])))
    tree = BallTree(points, metric="haversine")
    return tree, now() - start


def measure(tree: BallTree, needs: list[RankRequest], *, warmup: int = 20) -> Summary:
    """Latency of one k-nearest query per need (its k, its point), one at a time as the
    matcher answers them."""
    points = [np.radians([[need.lat, need.lon]]) for need in needs]
    for point, need in zip(points[:warmup], needs, strict=False):
        tree.query(point, k=need.k)
    timings = []
    for point, need in zip(points, needs, strict=True):
        start = now()
        tree.query(point, k=need.k)
        timings.append(now() - start)
    return summarize(timings)

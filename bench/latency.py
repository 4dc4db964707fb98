"""Latency samples and their summary (percentiles in milliseconds)."""

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Summary:
    """Percentiles of one series of timings, in milliseconds."""

    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(seconds: list[float]) -> Summary:
    """Summary of timings given in seconds."""
    if not seconds:
        raise ValueError("no timings to summarize")
    ms = np.asarray(seconds) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return Summary(
        count=len(ms),
        mean_ms=round(float(ms.mean()), 4),
        p50_ms=round(float(p50), 4),
        p90_ms=round(float(p90), 4),
        p99_ms=round(float(p99), 4),
        max_ms=round(float(ms.max()), 4),
    )


def now() -> float:
    """A monotonic clock in seconds, for timing."""
    return time.perf_counter()

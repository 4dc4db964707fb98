"""Bulk work that keeps many objects alive (an import's rows, then their outcomes) and makes
many more: with the collector's default thresholds it collects after every 700 allocations
and walks every young survivor, which over a 60,000-row import came to a third of its time,
and a growing share as the rows piled up. While any bulk work runs, the thresholds are
raised: collections come a hundred times more rarely (reference counting frees almost every
object anyway; cycles wait a little longer). The thresholds are the process's, so bulk works
are counted: the last one to finish restores what it found."""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLDS = (100_000, 50, 100)


class _Bulk:
    """How many bulk works run, and the thresholds to restore after the last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.saved = gc.get_threshold()


_bulk = _Bulk()


@contextmanager
def rarer_collections() -> Iterator[None]:
    """Raise the collector's thresholds while the block runs (restored after the last block)."""
    with _bulk.lock:
        if _bulk.running == 0:
            _bulk.saved = gc.get_threshold()
            gc.set_threshold(*BULK_THRESHOLDS)
        _bulk.running += 1
    try:
        yield
    finally:
        with _bulk.lock:
            _bulk.running -= 1
            if _bulk.running == 0:
                gc.set_threshold(*_bulk.saved)

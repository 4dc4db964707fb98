"""Bulk work raises the garbage collector's thresholds while it runs, and the last one to
finish restores what it found, whichever thread it ran in and in whatever order they end."""

import gc
import threading

from shared.collector import BULK_THRESHOLDS, rarer_collections


def test_the_thresholds_are_raised_while_bulk_work_runs_and_restored_after_the_last() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with rarer_collections():
            assert gc.get_threshold() == BULK_THRESHOLDS
            inner_started, outer_done = threading.Event(), threading.Event()
            seen: list[tuple[int, int, int]] = []

            def other_import() -> None:
                with rarer_collections():
                    inner_started.set()
                    outer_done.wait(5)
                    seen.append(gc.get_threshold())  # after the first one ended

            thread = threading.Thread(target=other_import)
            thread.start()
            assert inner_started.wait(5)
        assert gc.get_threshold() == BULK_THRESHOLDS, "the other one still runs"
        outer_done.set()
        thread.join(5)
        assert seen == [BULK_THRESHOLDS]
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_the_thresholds_are_restored_when_the_work_fails() -> None:
    found = gc.get_threshold()
    try:
        with rarer_collections():
            raise ValueError("a broken file")
    except ValueError:
        pass
    assert gc.get_threshold() == found

"""The report of issue 21's sections: reservations beside the reference commit (HTTP and NATS),
the referral loop's profile and the imports reach the Markdown with their same-run references,
and a goal that does not depend on the number of resources is judged without that caveat."""

from typing import Any

from bench import report
from tests.bench.test_report import _latency, _results


def _round(per_s: float) -> dict[str, Any]:
    return {"clients": 50, "reservations_per_s": per_s, "overbooked_units": 0,
            "service_cpu_ms_per_attempt": 3.5}  # fmt: skip


def _held(rates: list[float]) -> dict[str, Any]:
    return {
        "reservations_per_s": sorted(rates)[len(rates) // 2],
        "spread_per_s": [min(rates), max(rates)],
        "service_cpu_ms_per_attempt": 3.5,
        "overbooked_units": 0,
        "rounds": [_round(r) for r in rates],
    }


def _with_sections() -> dict[str, Any]:
    results = _results()
    reservations = {
        **_held([30.0, 32.0, 34.0]), "reference_rev": "cb1782e", "reference": _held([25.0, 26.0]),
        "current_over_reference": 1.23,
        "nats": {"current": _held([150.0, 160.0]), "reference": _held([40.0, 44.0]),
                 "current_over_reference": 3.6},
    }  # fmt: skip
    step = {**_latency(20.0, 90.0), "share_of_time": 0.5}
    loops = {
        "concurrency": 16, "loops": 300, "seconds": 60.0, "loops_per_s": 5.0,
        "latency": _latency(400.0, 900.0), "steps": {"accept": step, "complete": step},
        "errors": {}, "cpu_ms_per_loop": {"needs": 40.0, "resources": 9.0},
    }  # fmt: skip
    run = {"rows": 10000, "seconds": 100.0, "ms_per_row": 10.0, "ms_per_row_each_10k": [10.0],
           "flagged_duplicates": 3}  # fmt: skip
    imports = {
        "import_10000": run, "floor_10000": {"ms_per_row": 0.2}, "largest": run,
        "last_10k_over_first_10k": 1.1, "seconds_for_120k": 1200.0,
        "create_near_10k": {"creates": 200, "latency": _latency(12.0, 40.0)},
        "create_near_10k_reference_scan": {"creates": 20, "latency": _latency(2000.0, 3000.0)},
    }  # fmt: skip
    results["sizes"]["10000"].update(
        loop={"reservations": reservations, "loops": loops}, imports=imports
    )
    return results


def test_each_figure_reaches_the_markdown_beside_its_reference() -> None:
    results = _with_sections()
    results["targets"] = report.evaluate(results)
    text = report.markdown(results)
    assert "reference commit `cb1782e`" in text
    assert "| NATS `lianjie.resources.capacity.reserve.v1`" in text and "3.6×" in text
    assert "(150.0–160.0 over 2 rounds" in text
    assert "**5.0 loops/s**" in text and "| accept | 20.0 | 90.0 | 50% |" in text
    assert "| 10,000 | 100.0 | 10.00 | 10.0 | 3 | 0.2 | 50× |" in text
    assert "p99 40.0 ms; the scan registration did before the index" in text


def test_goals_that_do_not_depend_on_the_library_size_are_judged_plainly() -> None:
    rows = {row["target"]: row for row in report.evaluate(_with_sections())}
    assert rows["create next to 10,000 in one spot, p99"]["verdict"] == "met"
    assert rows["reservations/s (HTTP) ÷ reference commit, same run"]["verdict"].startswith(
        "missed: 0.25× the goal"
    )
    assert rows["import ms per row, last 10,000 ÷ first 10,000 (flat)"]["verdict"] == "met"
    assert rows["import 120,000 volunteers (at the largest size's ms per row)"]["measured"] == (
        "1,200 s"
    )
    # The ranking goals still name the size they were measured at.
    assert "(at 10,000 resources" in rows["NATS ranks/s, 2 replicas (closed loop)"]["verdict"]

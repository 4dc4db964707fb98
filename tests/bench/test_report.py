"""The bench's report: the under-load targets read the open loop, and the cost of JetStream's
sync policy reaches the Markdown (hence the README) as well as the JSON."""

import json
from pathlib import Path
from typing import Any

from bench import report


def _latency(p50: float, p99: float) -> dict[str, float]:
    return {"count": 100, "mean_ms": p50, "p50_ms": p50, "p90_ms": p99, "p99_ms": p99,
            "max_ms": p99}  # fmt: skip


def _policy(ack_p50: float, per_s: float) -> dict[str, Any]:
    return {
        "sync_interval": "always",
        "store_filesystem": "ext4",
        "ack_latency_1_in_flight": _latency(ack_p50, ack_p50 * 3),
        "window": 64,
        "publishes_per_s": per_s,
        "registration_to_matcher": _latency(7.0, 20.0),
        "burst": 400,
        "clients": 16,
        "registrations_per_s": 90.0,
        "all_visible_s": 4.5,
        "events_per_s_to_matcher": 88.9,
        "matcher_behind_last_reply_s": 0.012,
    }


def _results() -> dict[str, Any]:
    closed = {"latency": _latency(9.0, 25.0), "ranks_per_s": 3100.0}
    open_loop = {
        "offered_per_s": 2000.0,
        "achieved_per_s": 1994.0,
        "latency": _latency(1.2, 6.5),
        "send_lag": _latency(0.1, 0.4),
    }
    plan = {"window": 64, "burst": 400, "clients": 16}
    return {
        "date": "2026-11-23",
        "command": "python -m bench",
        "machine": {
            "cpu": "cpu", "cores": 2, "ram_gb": 1.0, "python": "3.11", "nats_server": "v2",
            "load_average_at_start": [0.0, 0.0, 0.0],
        },
        "sizes": {
            "10000": {
                "nats": {"replicas_2_load": closed, "replicas_2_open_loop": open_loop},
                "sync": {
                    "plan": plan, "default": _policy(0.3, 18000), "always": _policy(0.6, 1900),
                },
            },
        },
        "notes": [],
    }  # fmt: skip


def _row(results: dict[str, Any], name: str) -> dict[str, Any]:
    return next(row for row in report.evaluate(results) if row["target"].startswith(name))


def test_under_load_targets_read_the_open_loop_not_the_closed_one() -> None:
    results = _results()

    assert _row(results, "NATS p50, 2 replicas, under load")["measured"] == "1.2 ms"
    assert _row(results, "NATS p99, 2 replicas, under load")["measured"] == "6.5 ms"
    assert _row(results, "NATS ranks/s, 2 replicas")["measured"] == "3,100 /s"


def test_the_sync_policy_cost_reaches_json_and_markdown(tmp_path: Path) -> None:
    paths = report.write(_results(), tmp_path)

    written = json.loads(paths["json"].read_text("utf-8"))
    assert written["sizes"]["10000"]["sync"]["always"]["publishes_per_s"] == 1900
    table = paths["md"].read_text("utf-8")
    assert "JetStream `sync_interval`" in table
    assert "| `always` | 0.6 / 1.8 | 1,900 |" in table
    assert "| nats-server default (fsync every 2 min) | 0.3 / 0.9 | 18,000 |" in table
    assert "1.2 / 6.5 (1,994 of 2,000; sent late by p99 0.4 ms)" in table

"""The results: a JSON file with every number, a Markdown table against the issue's targets,
a plot of latency against the number of resources, and the README's performance section."""

import json
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import loop_report
from cli.stack import nats_server_binary

RESULTS = Path(__file__).parent / "results"
README = Path(__file__).parent.parent / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
TARGET_SIZE = 1_000_000
METHODS = {  # label → path of the p50 in a size's results
    "matcher in-process": ("inprocess", "latency"),
    "NumPy scan": ("numpy", "latency"),
    "PostgreSQL": ("postgres", "latency"),
    "matcher over NATS (2 replicas, 1 in flight)": ("nats", "replicas_2_serial", "latency"),
}


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as info:
        ram_kb = int(next(line for line in info if line.startswith("MemTotal")).split()[1])
    try:
        nats_version = subprocess.run(
            [nats_server_binary(), "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        nats_version = "unknown"
    versions = {}
    for package in ("numpy", "scikit-learn", "pydantic", "nats-py", "psycopg", "fastapi"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(ram_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "nats_server": nats_version,
        "load_average_at_start": os.getloadavg(),
        "packages": versions,
    }


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


@dataclass(frozen=True)
class Target:
    """One goal of the issue: a measured value must be at most (or at least) `goal`."""

    name: str
    path: tuple[str, ...]
    goal: float
    at_most: bool
    unit: str
    at: int | None = None  # the size the goal is for (None: TARGET_SIZE); else the largest
    sized: bool = True  # False: the figure does not depend on the number of resources


SCALE_SIZE = 10_000_000
SPREAD = ("inprocess", "spread")
TARGETS = [
    Target("matcher in-process p50", ("inprocess", "latency", "p50_ms"), 0.5, True, "ms"),
    Target("matcher in-process p99", ("inprocess", "latency", "p99_ms"), 2.0, True, "ms"),
    Target(
        "NATS p50, 2 replicas, 1 in flight",
        ("nats", "replicas_2_serial", "latency", "p50_ms"), 2.0, True, "ms",
    ),
    Target(
        "NATS p99, 2 replicas, 1 in flight",
        ("nats", "replicas_2_serial", "latency", "p99_ms"), 10.0, True, "ms",
    ),
    Target(
        "NATS p50, 2 replicas, under load (open loop, 2,000/s offered)",
        ("nats", "replicas_2_open_loop", "latency", "p50_ms"), 2.0, True, "ms",
    ),
    Target(
        "NATS p99, 2 replicas, under load (open loop, 2,000/s offered)",
        ("nats", "replicas_2_open_loop", "latency", "p99_ms"), 10.0, True, "ms",
    ),
    Target(
        "highest offered rate with p99 ≤ 10 ms, 2 replicas (open loop sweep)",
        ("nats", "highest_rate_within_p99_limit"), 2000, False, "/s",
    ),
    Target(
        "NATS ranks/s, 2 replicas (closed loop)",
        ("nats", "replicas_2_load", "ranks_per_s"), 2000, False, "/s",
    ),
    Target(
        "PostgreSQL p50 ÷ matcher in-process p50",
        ("ratios", "postgres_over_inprocess_p50"), 10, False, "×",
    ),
    Target(
        "index memory per resource (RSS delta)",
        ("inprocess", "build", "bytes_per_resource"), 1024, True, "B",
    ),
    Target(
        "index build from the stream's messages (median of runs)",
        (*SPREAD, "build_s", "median"), 5, True, "s", TARGET_SIZE,
    ),
    Target(
        "index build ÷ decoding the same messages (fastest JSON decoder, same run)",
        (*SPREAD, "build_over_floor", "median"), 5, True, "×", TARGET_SIZE,
    ),
    Target(
        "a restarted replica serves (replay over NATS, 2nd replica)",
        ("stream", "replica_2_ready_s"), 5, True, "s", TARGET_SIZE,
    ),
    Target(
        "restarted replica serves (snapshot + tail; median of restarts)",
        ("stream", "restart", "snapshot_and_tail_ready_s", "median"), 5, True, "s", TARGET_SIZE,
    ),
    Target(
        "restarted replica serves (full replay over NATS; median of restarts, same run)",
        ("stream", "restart", "full_replay_ready_s", "median"), 5, True, "s", TARGET_SIZE,
    ),
    Target(
        "index memory per resource at 10M (RSS delta)",
        (*SPREAD, "bytes_per_resource", "median"), 400, True, "B", SCALE_SIZE,
    ),
    Target(
        "index memory per resource at 10M (held by its objects, counted)",
        (*SPREAD, "held_bytes_per_resource", "median"), 400, True, "B", SCALE_SIZE,
    ),
    Target("in-process p50 at 10M", (*SPREAD, "p50_ms", "median"), 1, True, "ms", SCALE_SIZE),
    Target("in-process p99 at 10M", (*SPREAD, "p99_ms", "median"), 3, True, "ms", SCALE_SIZE),
    Target(
        "PostgreSQL p50 ÷ in-process p50 at 10M (same run; if PostgreSQL did not run at 10M, "
        "its p50 at the largest size it ran: a bound)",
        ("ratios", "postgres_over_inprocess_p50"), 10, False, "×", SCALE_SIZE,
    ),
    Target(
        "in-process p50 ÷ BallTree (haversine) k-NN p50, same points, same run",
        (*SPREAD, "p50_over_balltree_p50", "median"), 3, True, "×",
    ),
    Target("freshness p99", ("loop", "freshness", "latency", "p99_ms"), 100, True, "ms"),
    Target(
        "reservations/s, 50 clients, PostgreSQL",
        ("loop", "reservations", "reservations_per_s"), 300, False, "/s",
    ),
    Target("overbooked units", ("loop", "reservations", "overbooked_units"), 0, True, "units"),
    Target(
        "reservations/s (HTTP) ÷ reference commit, same run",
        ("loop", "reservations", "current_over_reference"), 5, False, "×", sized=False,
    ),
    Target(
        "reservations/s over NATS, 50 clients, PostgreSQL",
        ("loop", "reservations", "nats", "current", "reservations_per_s"), 300, False, "/s",
        sized=False,
    ),
    Target(
        "reservations/s over NATS ÷ reference commit, same run",
        ("loop", "reservations", "nats", "current_over_reference"), 5, False, "×", sized=False,
    ),
    Target(
        "import 120,000 volunteers (at the largest size's ms per row)",
        ("imports", "seconds_for_120k"), 120, True, "s", sized=False,
    ),
    Target(
        "import ms per row, last 10,000 ÷ first 10,000 (flat)",
        ("imports", "last_10k_over_first_10k"), 1.25, True, "×", sized=False,
    ),
    Target(
        "create next to 10,000 in one spot, p99",
        ("imports", "create_near_10k", "latency", "p99_ms"), 50, True, "ms", sized=False,
    ),
]  # fmt: skip


def _number(value: float) -> str:
    """Three significant digits, without an exponent for large values."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _fmt(value: float, unit: str) -> str:
    text = _number(value)
    return f"{text} {unit}" if unit not in ("×",) else f"{text}×"


def judge(target: Target, value: float) -> str:
    """'met', or how far off the measured value is."""
    ok = value <= target.goal if target.at_most else value >= target.goal
    if ok:
        return "met"
    if target.goal == 0:
        return f"missed by {_fmt(value, target.unit)}"
    factor = value / target.goal
    if target.at_most:
        return f"missed: {factor:.2f}× the limit (+{_fmt(value - target.goal, target.unit)})"
    return f"missed: {factor:.2f}× the goal (−{_fmt(target.goal - value, target.unit)})"


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target against the largest size at which it was measured."""
    rows = []
    for target in TARGETS:
        measured = [
            (int(size), value)
            for size, by_size in results["sizes"].items()
            if (value := _get(by_size, *target.path)) is not None
        ]
        row: dict[str, Any] = {
            "target": target.name,
            "goal": f"{'≤' if target.at_most else '≥'} {_fmt(target.goal, target.unit)}",
        }
        goal_size = target.at or TARGET_SIZE
        if any(size == goal_size for size, _ in measured):
            measured = [(size, value) for size, value in measured if size == goal_size]
        if not measured:
            row.update(measured=None, at_resources=None, verdict="not measured")
        else:
            size, value = max(measured)
            verdict = judge(target, float(value))
            if size != goal_size and target.sized:
                verdict += f" (at {size:,} resources; the goal is for {goal_size:,})"
            row.update(measured=_fmt(float(value), target.unit), at_resources=size, verdict=verdict)
        rows.append(row)
    return rows


def _ms(by_size: dict[str, Any], *path: str) -> str:
    summary = _get(by_size, *path)
    if summary is None:
        return "not measured"
    return f"{_number(summary['p50_ms'])} / {_number(summary['p99_ms'])}"


def _open_loop(by_size: dict[str, Any]) -> str:
    run = _get(by_size, "nats", "replicas_2_open_loop")
    if run is None:
        return "not measured"
    rates = f"{run['achieved_per_s']:,.0f} of {run['offered_per_s']:,.0f}"
    if run.get("timeouts"):
        rates += f"; {run['timeouts']:,} timed out"
    rates += f"; sent late by p99 {_number(run['send_lag']['p99_ms'])} ms"
    return f"{_ms(by_size, 'nats', 'replicas_2_open_loop', 'latency')} ({rates})"


SPREAD_COLUMNS = {  # figure in the spread → column heading
    "build_s": "build s",
    "decode_floor_s": "decode floor s",
    "build_over_floor": "build ÷ floor",
    "text_after_ready_s": "texts counted after ready, s",
    "bytes_per_resource": "B / resource (RSS delta)",
    "held_bytes_per_resource": "B / resource (held, counted)",
    "p50_ms": "in-process p50 ms",
    "p99_ms": "in-process p99 ms",
    "balltree_p50_ms": "BallTree k-NN p50 ms",
    "p50_over_balltree_p50": "p50 ÷ BallTree p50",
}


def _spread_table(results: dict[str, Any]) -> list[str]:
    """The matcher in-process over its runs, each figure as median (min–max)."""
    sizes = [
        (int(size), spread, _get(r, "inprocess", "runs"))
        for size, r in results["sizes"].items()
        if (spread := _get(r, *SPREAD)) is not None
    ]
    if not sizes:
        return []
    lines = [
        "",
        "The matcher in-process, each figure the median (min–max) of its runs, beside its "
        "same-run floors: decoding the same stream messages with the fastest JSON decoder, "
        "and a scikit-learn BallTree (haversine) k-nearest query over the same points:",
        "",
        "| resources | runs | " + " | ".join(SPREAD_COLUMNS.values()) + " |",
        "|---|---|" + "---|" * len(SPREAD_COLUMNS),
    ]
    for size, spread, runs in sorted(sizes, key=lambda item: item[0]):
        cells = [
            f"{_number(f['median'])} ({_number(f['min'])}–{_number(f['max'])})"
            if (f := spread.get(name)) and f["min"] != f["max"]
            else (_number(f["median"]) if f else "—")
            for name in SPREAD_COLUMNS
        ]
        lines.append(f"| {size:,} | {runs} | " + " | ".join(cells) + " |")
    return lines


SYNC_LABELS = {"default": "nats-server default (fsync every 2 min)", "always": "`always`"}


def _sync_table(results: dict[str, Any]) -> list[str]:
    """What JetStream's `sync_interval` costs, from the (smallest) size that measured it."""
    measured = [(int(size), r["sync"]) for size, r in results["sizes"].items() if "sync" in r]
    if not measured:
        return []
    size, sync = min(measured)
    plan = sync["plan"]
    policies = [sync[label] for label in SYNC_LABELS if label in sync]
    filesystems = ", ".join(sorted({p["store_filesystem"] for p in policies}))
    lines = [
        "",
        f"JetStream `sync_interval` (issue 9; measured at {size:,} resources, which play no "
        f"part; fresh stack per policy; store on {filesystems}):",
        "",
        "| sync_interval | publish ack p50 / p99 ms (1 in flight) "
        f"| publishes/s ({plan['window']} in flight) "
        "| registration → matcher p50 / p99 ms "
        f"| burst of {plan['burst']} by {plan['clients']} clients: registrations/s (HTTP) "
        "| burst: the matcher holds all, after the last reply |",
        "|---|---|---|---|---|---|",
    ]
    for label, name in SYNC_LABELS.items():
        if (p := sync.get(label)) is None:
            continue
        lines.append(
            f"| {name} | {_ms(p, 'ack_latency_1_in_flight')} | {p['publishes_per_s']:,.0f} "
            f"| {_ms(p, 'registration_to_matcher')} | {p['registrations_per_s']:,.0f} "
            f"| {p['matcher_behind_last_reply_s'] * 1000:,.0f} ms |"
        )
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The targets table and the per-size comparison, with the machine they ran on."""
    m = results["machine"]
    lines = [
        f"### Benchmark of {results['date']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Python {m['python']}, "
        f"{m['nats_server']}, {results.get('postgres_version', 'PostgreSQL not used')}"
        f" (spatial: {results.get('spatial', 'n/a')}); load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}. "
        f"Command: `{results['command']}`.",
        "",
        "| target | goal | measured | at resources | verdict |",
        "|---|---|---|---|---|",
    ]
    for row in results["targets"]:
        at = f"{row['at_resources']:,}" if row["at_resources"] else "—"
        lines.append(
            f"| {row['target']} | {row['goal']} | {row['measured'] or '—'} | {at} | "
            f"{row['verdict']} |"
        )
    lines += [
        "",
        "Ranking latency p50 / p99 in ms, k = 10, same needs, same hard filters and ordering:",
        "",
        "| resources | in-process | NumPy scan | PostgreSQL | NATS 1 replica | NATS 2 replicas "
        "| NATS 2 replicas, open loop (achieved of offered /s; the generator's lateness) "
        "| ranks/s, closed loop "
        "(1 → 2 replicas) | PG ÷ in-process | top-k agreement (NumPy / PG / NATS) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, r in sorted(results["sizes"].items(), key=lambda kv: int(kv[0])):
        rate1 = _get(r, "nats", "replicas_1_load", "ranks_per_s")
        rate2 = _get(r, "nats", "replicas_2_load", "ranks_per_s")
        rates = f"{rate1:,.0f} → {rate2:,.0f}" if rate1 and rate2 else "not measured"
        ratio = _get(r, "ratios", "postgres_over_inprocess_p50")
        agreement = " / ".join(
            f"{a['identical_fraction']:.0%}" if (a := _get(r, "agreement", name)) else "—"
            for name in ("numpy", "postgres", "nats")
        )
        lines.append(
            f"| {int(size):,} | {_ms(r, 'inprocess', 'latency')} | {_ms(r, 'numpy', 'latency')} "
            f"| {_ms(r, 'postgres', 'latency')} | {_ms(r, 'nats', 'replicas_1_serial', 'latency')} "
            f"| {_ms(r, 'nats', 'replicas_2_serial', 'latency')} "
            f"| {_open_loop(r)} | {rates} "
            f"| {f'{ratio:.1f}×' if ratio else '—'} | {agreement} |"
        )
    lines += _spread_table(results)
    lines += _sync_table(results)
    lines += loop_report.tables(results)
    lines.append("")
    for size, r in sorted(results["sizes"].items(), key=lambda kv: int(kv[0])):
        for note in dict.fromkeys(r.get("notes", [])):  # a merged day's runs may repeat one
            lines.append(f"- {int(size):,} resources: {note}")
    for note in dict.fromkeys(results.get("notes", [])):
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> bool:
    """p50 latency against resources (log-log) for the four methods; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for label, path_keys in METHODS.items():
        points = sorted(
            (int(size), summary["p50_ms"])
            for size, r in results["sizes"].items()
            if (summary := _get(r, *path_keys)) is not None
        )
        if points:
            axes.plot(*zip(*points, strict=True), marker="o", label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("resources indexed")
    axes.set_ylabel("ranking latency p50 (ms), k = 10")
    axes.set_title(f"Lianjie matcher vs alternatives, {results['date']}")
    axes.grid(True, which="both", alpha=0.3)
    if axes.lines:
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def write(results: dict[str, Any], folder: Path = RESULTS) -> dict[str, Path]:
    """Write `<date>.json`, `<date>.md` and `<date>-latency.png`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    results["targets"] = evaluate(results)
    paths = {"json": folder / f"{results['date']}.json", "md": folder / f"{results['date']}.md"}
    paths["json"].write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    paths["md"].write_text(markdown(results), "utf-8")
    png = folder / f"{results['date']}-latency.png"
    if plot(results, png):
        paths["png"] = png
    return paths


def update_readme(table: str, readme: Path = README) -> bool:
    """Put the latest table between the README's bench markers; False when they are missing."""
    text = readme.read_text("utf-8")
    if START not in text or END not in text:
        return False
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    block = f"{START}\n{table}\nFull numbers: `bench/results/` (JSON, Markdown, plot).\n{END}"
    readme.write_text(pattern.sub(lambda _: block, text, count=1), "utf-8")
    return True

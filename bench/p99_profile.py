"""What the slowest 1 % of in-process rankings have in common at a moved-copy size (issue 21).

Builds the index once as the bench's `at_scale` does (the generated province plus moved
copies), ranks every need timing each step of `services.matcher.ranking` (candidates, hard
filters, components, best n, reply), and prints the slowest queries beside the median ones:
candidate and feasible counts, radius, category, division. With `--reference REV` the ranking
module of that git revision is loaded beside the current one and both rank every need
(interleaved need by need, each going first in turn, same index, same load): latencies of
both, and whether every answer is identical.

    python -m bench.p99_profile --size 10000000 --queries 2000 --reference HEAD
"""

import argparse
import gc
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from bench import data, inprocess, scale
from bench.latency import now
from services.matcher import ranking
from shared import taxonomy
from shared.contracts.matcher import RankRequest


def _module_at(rev: str) -> ModuleType:
    """`services/matcher/ranking.py` as it is at git revision `rev`, as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{rev}:services/matcher/ranking.py"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "ranking_reference.py"
    path.write_text(source, "utf-8")
    spec = importlib.util.spec_from_file_location("ranking_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _steps(ranker: Any, need: RankRequest) -> dict[str, Any]:
    """One ranking taken apart step by step (the hand score alone, as the bench ranks)."""
    index, params = ranker.index, ranker.params
    times: dict[str, float] = {}
    start = now()
    candidates = ranking.candidates_for(index, need)
    times["candidates"] = now() - start
    start = now()
    passed = ranking.feasible(columns=index.columns, query=need, slots=candidates)
    times["feasible"] = now() - start
    start = now()
    components = ranking._components(index, passed, need, params, need.k)
    score = ranking.hand_score(components=components, weights=params.weights)
    times["score"] = now() - start
    start = now()
    best = ranking._best(score, passed.distance, passed.slots, index.columns.ids, need.k)
    times["best"] = now() - start
    start = now()
    ranking._top(index.columns, passed, best, score, components, need.category)
    times["top"] = now() - start
    return {
        "times": times,
        "candidates": len(candidates),
        "feasible": len(passed.slots),
        "category": need.category,
        "max_distance_km": need.max_distance_km,
        "adcode": need.adcode,
        "offers": len(taxonomy.compatible_offers(need.category)),
    }


def _rank(module: ModuleType, ranker: Any, need: RankRequest) -> tuple[float, Any]:
    start = now()
    reply = module.rank_resources(index=ranker.index, query=need, params=ranker.params)
    return now() - start, [(r.resource_id, r.score, r.distance_km) for r in reply.results]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=10_000_000)
    p.add_argument("--generate-max", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--province", default="51")
    p.add_argument("--reference", help="git revision whose ranking.py to compare against")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds with --reference")
    args = p.parse_args(argv)
    base = data.load(
        seed=args.seed, province=args.province, size=args.generate_max, queries=args.queries
    )
    messages = [state.model_dump_json().encode() for state in base.resources]
    needs = base.needs
    del base
    gc.collect()
    ranker, stats = inprocess.build_ranker(
        chunks=scale.chunks(messages, args.size, seed=args.seed), text=False
    )
    del messages
    gc.collect()
    print(f"built {stats.resources:,} in {stats.build_s:.1f} s", flush=True)
    for need in needs[:20]:
        ranker.rank(need)
    profile = [_steps(ranker, need) for need in needs]
    total = np.array([sum(p["times"].values()) for p in profile])
    order = np.argsort(total)
    cut = int(len(total) * 0.99)
    slow, typical = order[cut:], order[:cut]
    print(f"steps p50 {np.median(total) * 1e3:.3f} ms, p99 {total[order[cut]] * 1e3:.3f} ms")
    for name, group in (("slowest 1 %", slow), ("the other 99 %", typical)):
        print(f"-- {name} ({len(group)} needs): medians")
        for step in profile[0]["times"]:
            ms = np.median([profile[i]["times"][step] for i in group]) * 1e3
            print(f"  {step:<11} {ms:7.3f} ms")
        for field in ("candidates", "feasible", "offers"):
            print(f"  {field:<11} {np.median([profile[i][field] for i in group]):9,.0f}")
        radii = [profile[i]["max_distance_km"] for i in group]
        print(f"  max_distance_km None: {sum(r is None for r in radii)}/{len(group)}")
        print(f"  with adcode: {sum(bool(profile[i]['adcode']) for i in group)}/{len(group)}")
    print("-- slowest 1 %, one by one")
    for i in slow[::-1]:
        p = profile[i]
        steps = " ".join(f"{k}={v * 1e3:.2f}" for k, v in p["times"].items())
        print(f"  {total[i] * 1e3:6.2f} ms cand={p['candidates']:>7,} feas={p['feasible']:>7,} "
              f"cat={p['category']} offers={p['offers']} max_km={p['max_distance_km']} "
              f"adcode={p['adcode']} | {steps}")  # fmt: skip
    if args.reference:
        _compare(_module_at(args.reference), ranker, needs, args.rounds, args.reference)
    return 0


def _compare(
    reference: ModuleType, ranker: Any, needs: list[RankRequest], rounds: int, rev: str
) -> None:
    """Both modules rank every need in turn, `rounds` times; latencies and identical answers."""
    figures: dict[str, list[tuple[float, float]]] = {"reference": [], "current": []}
    differing = 0
    for _ in range(rounds):
        times: dict[str, list[float]] = {"reference": [], "current": []}
        for i, need in enumerate(needs):
            # In turn, who goes first: the first to rank a need pays the cold lookups.
            if i % 2:
                after, new = _rank(ranking, ranker, need)
                before, old = _rank(reference, ranker, need)
            else:
                before, old = _rank(reference, ranker, need)
                after, new = _rank(ranking, ranker, need)
            times["reference"].append(before)
            times["current"].append(after)
            differing += old != new
        for name, values in times.items():
            ms = np.array(values) * 1e3
            figures[name].append((float(np.percentile(ms, 50)), float(np.percentile(ms, 99))))
    for name, runs in figures.items():
        label = f"{name} ({rev})" if name == "reference" else name
        print(f"{label}: p50 " + ", ".join(f"{a:.3f}" for a, _ in runs)
              + " ms; p99 " + ", ".join(f"{b:.3f}" for _, b in runs) + " ms")  # fmt: skip
    print(f"answers differing: {differing} of {rounds * len(needs)}")


if __name__ == "__main__":
    sys.exit(main())

"""Restarted replicas of two checkouts of the matcher, started in turn on one stack, each time
from the same snapshot and tail: the bench's restart figure without the rest of the bench
(`python -m bench.restart_phases --size 1000000 --before /path/to/other/checkout`).

Run it from a folder holding no `services` package: each replica is given its checkout on
PYTHONPATH, which an interpreter's own folder would otherwise shadow. Each replica's log lines
about the snapshot and the catching up are printed beside the seconds it took to be ready.
"""

import argparse
import asyncio
import json
from pathlib import Path

from bench import data
from bench.cluster import Cluster, publish_states
from bench.restart import _RESTARTED, FIRST_REPLICA_ENV, _spread, changed, wait_for_snapshot
from cli.settings import JetStreamSettings

_PHASES = ("Started server process", "index snapshot", "caught up", "startup complete")


def phases(cluster: Cluster, name: str) -> list[str]:
    """The lines of replica `name`'s log that mark its start's phases."""
    text = (cluster.log_path / f"{name}.log").read_text("utf-8", "replace")
    lines = []
    for line in text.splitlines():
        if any(phase in line for phase in _PHASES):
            try:
                entry = json.loads(line)
                lines.append(f"{entry['time']} {entry['message']}")
            except (ValueError, KeyError):
                lines.append(line[:160])
    return lines


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--province", default="51")
    p.add_argument("--tail-share", type=float, default=0.01)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--after", type=Path, default=Path(__file__).resolve().parents[1])
    p.add_argument("--before", type=Path, required=True, help="the other checkout")
    args = p.parse_args()
    resources = data.load(
        seed=args.seed, province=args.province, size=args.size, queries=1
    ).resources
    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    ready: dict[str, list[float]] = {side: [] for side in checkouts}
    with Cluster(service_env={}, sync_interval=None) as cluster:
        published_s = await publish_states(cluster.nats_url, resources)
        cluster.restart_nats(sync_interval=JetStreamSettings().sync_interval)
        first = cluster.start_matcher({**FIRST_REPLICA_ENV, "PYTHONPATH": str(checkouts["after"])})
        print(f"published {published_s:.1f} s, replica 1 ready {first:.1f} s", flush=True)
        sequence, size = await wait_for_snapshot(cluster.nats_url)
        tail = changed(resources, args.tail_share)
        del resources
        await publish_states(cluster.nats_url, tail)
        print(f"snapshot at {sequence}, {size / 1e6:.1f} MB; tail {len(tail)}", flush=True)
        for _ in range(args.repeat):
            for side, checkout in checkouts.items():
                env = {**_RESTARTED, "PYTHONPATH": str(checkout)}
                ready_s = await asyncio.to_thread(cluster.start_matcher, env)
                name = cluster.newest_matcher()
                restored = cluster.metric(name, "lianjie_matcher_index_restored_from")
                cluster.stop_matcher(name)
                ready[side].append(ready_s)
                print(f"{side} {name} ready {ready_s:.2f} s, restored from {restored}")
                print("\n".join(f"    {line}" for line in phases(cluster, name)), flush=True)
    print(json.dumps({side: _spread(times) for side, times in ready.items()}))


if __name__ == "__main__":
    asyncio.run(main())

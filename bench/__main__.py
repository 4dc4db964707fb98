"""`python -m bench`: run the benchmark sections for each size and write the results.

Sections: inprocess, numpy, postgres (ranking the same needs four ways), nats (the matcher over
NATS with 1 and 2 replicas, closed and open loop), freshness, reservations (this checkout's
ledger beside a reference commit's, over HTTP and NATS), e2e (needs matched, and full referral
loops with where their time goes), sync (what JetStream's fsync policy costs) and imports (a
prefecture's volunteers from CSV beside a COPY floor; creating in a crowded spot); sync and
imports at the smallest size only.
"""

import argparse
import asyncio
import gc
import json
import os
import shlex
import shutil
import sys
import traceback
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from bench import (
    agreement,
    data,
    imports,
    inprocess,
    numpy_scan,
    postgres,
    report,
    reservations,
    restart,
    scale,
    sync,
)
from bench.cluster import Cluster, publish_states
from bench.loop import measure_end_to_end, measure_freshness, measure_loops
from bench.nats_load import run_load, run_open_loop
from cli.settings import JetStreamSettings
from services.matcher.decode import ResourceState
from services.matcher.ranking import ScoreParams
from services.matcher.settings import MatcherSettings
from shared import demo
from shared.contracts.matcher import RankRequest

SECTIONS = (
    "inprocess", "numpy", "postgres", "nats", "freshness", "reservations", "e2e", "sync", "imports",
)  # fmt: skip
RANKING = {"inprocess", "numpy", "postgres"}
WIRE = {"nats", "freshness", "reservations", "e2e"}
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOOP_REFERENCE_REV = "f310d6f"
"""The needs service of issue 21's morning round (its 4.6 loops/s): the loop's reference."""


def _ints(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part]


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--sizes", type=_ints, default=[10_000, 100_000, 1_000_000])
    p.add_argument("--queries", type=int, default=3000, help="needs ranked by every method")
    p.add_argument("--sample", type=int, default=200, help="needs whose top-k are compared")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"any of {','.join(SECTIONS)}")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument(
        "--repeat", type=int, default=3,
        help="in-process runs per size (build, ranking, floors): the spread is min/median/max",
    )  # fmt: skip
    p.add_argument(
        "--generate-max", type=lambda text: int(float(text)), default=1_000_000,
        help="largest size made by the demo generator; larger sizes are moved copies of it, "
        "measured in-process only (see bench/scale.py)",
    )  # fmt: skip
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the sizes of today's earlier results that this run does not measure again",
    )
    p.add_argument("--province", default="51", help="two-digit province code (51: 四川)")
    p.add_argument(
        "--wire-max",
        type=int,
        default=1_000_000,
        help="largest size for the over-the-wire sections (each replica replays the stream)",
    )
    p.add_argument("--concurrency", type=int, default=32, help="NATS requests in flight")
    p.add_argument(
        "--open-loop-rate",
        type=float,
        default=2000,
        help="rank requests/s offered over NATS (open loop); the issue's targets are for 2,000",
    )
    p.add_argument("--open-loop-seconds", type=float, default=10, help="how long it is offered")
    p.add_argument(
        "--open-loop-sweep", type=_ints, default=[],
        help="further offered rates (/s) for the open loop: the highest with p99 ≤ 10 ms",
    )  # fmt: skip
    p.add_argument(
        "--open-loop-arrivals", choices=("poisson", "even"), default="poisson",
        help="random (Poisson) or evenly spaced send times",
    )  # fmt: skip
    p.add_argument("--clients", type=int, default=50, help="concurrent reservation clients")
    p.add_argument("--attempts", type=int, default=2000, help="reservation attempts")
    p.add_argument("--reservation-rounds", type=int, default=3, help="rounds of each ledger")
    p.add_argument(
        "--reservations-reference",
        default=reservations.REFERENCE_REV,
        help="git revision whose resources service is measured beside this one ('none': skip)",
    )
    p.add_argument(
        "--reservations-nats", action=argparse.BooleanOptionalAction, default=True,
        help="reservations over NATS too (each side's rounds with the other stopped)",
    )  # fmt: skip
    p.add_argument("--changes", type=int, default=100, help="capacity changes for freshness")
    p.add_argument(
        "--restart-tail", type=float, default=0.01,
        help="share of the resources changed after the snapshot a restarted replica loads",
    )  # fmt: skip
    p.add_argument("--e2e-needs", type=int, default=500)
    p.add_argument("--e2e-concurrency", type=int, default=16)
    p.add_argument("--loops", type=int, default=400, help="full referral loops (e2e section)")
    p.add_argument("--loop-rounds", type=int, default=3, help="rounds of the loops, each side")
    p.add_argument(
        "--loop-reference", default=LOOP_REFERENCE_REV,
        help="commit whose needs service runs the same loops beside this checkout's ('none': skip)",
    )  # fmt: skip
    p.add_argument(
        "--import-sizes", type=_ints, default=[10_000, 120_000], help="volunteer CSV rows"
    )
    p.add_argument(
        "--postgres",
        default=os.environ.get("LIANJIE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a libpq URL the bench may create and drop its own databases from",
    )
    p.add_argument("--database", default="lianjie_bench", help="prefix of the bench databases")
    p.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    p.add_argument(
        "--results", type=Path, default=report.RESULTS, help="folder of the JSON, Markdown, plot"
    )
    args = p.parse_args(argv)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def _guarded(notes: list[str], name: str, work: Callable[..., object], *args: object) -> None:
    """Run one section; a failure is recorded as 'not measured' with its reason, never hidden."""
    try:
        work(*args)
    except Exception as exc:
        traceback.print_exc()
        notes.append(f"{name}: not measured ({type(exc).__name__}: {exc})")
        say(f"{name} failed: {exc}")


def rank_four_ways(
    args: argparse.Namespace,
    dataset: data.Dataset,
    out: dict[str, Any],
    server: postgres.Server,
    results: dict[str, Any],
) -> None:
    """In-process, NumPy and PostgreSQL over the same needs; agreement against the matcher."""
    notes: list[str] = out.setdefault("notes", [])
    say(f"building the matcher's index of {dataset.size:,} resources ({args.repeat} runs)")
    ranker, section, reference = inprocess.measure_runs(
        dataset.resources, dataset.needs, sample=args.sample, repeat=args.repeat
    )
    params: ScoreParams = ranker.params
    _say_inprocess(section)
    out["answers_reference"] = reference
    if "inprocess" in args.sections:
        out["inprocess"] = section
        out["inprocess"]["empty_answers_in_sample"] = sum(1 for a in reference if not a)
    del ranker
    gc.unfreeze()
    gc.collect()

    def numpy_section() -> None:
        arrays = numpy_scan.ResourceArrays(dataset.resources)
        summary, answers = numpy_scan.measure(arrays, dataset.needs, params, sample=args.sample)
        out["numpy"] = {"latency": summary.as_dict()}
        out.setdefault("agreement", {})["numpy"] = agreement.compare(reference, answers).as_dict()
        say(f"  NumPy scan p50 {summary.p50_ms} ms")

    def postgres_section() -> None:
        reach_km = postgres.max_reach_km(dataset.resources)
        postgres_ranking(args, server, results, out, dataset.resources, reach_km, dataset.needs,
                         params, reference)  # fmt: skip

    if "numpy" in args.sections:
        _guarded(notes, "numpy", numpy_section)
    if "postgres" in args.sections:
        _guarded(notes, "postgres", postgres_section)


def postgres_ranking(
    args: argparse.Namespace,
    server: postgres.Server,
    results: dict[str, Any],
    out: dict[str, Any],
    states: Iterable[postgres.State],
    reach_km: float,
    needs: list[RankRequest],
    params: ScoreParams,
    reference: list[data.TopK],
) -> None:
    """`states` COPYed into a fresh database of the bench's own (dropped after), indexed, and
    `needs` ranked in SQL; agreement of the first `--sample` answers against `reference`."""
    with postgres.fresh_databases(server, [server.database]):
        spatial, install_note = postgres.enable_spatial(server)
        results["spatial"], results["spatial_install"] = spatial, install_note
        say(f"  PostgreSQL spatial support: {spatial} ({install_note}); loading")
        load_s = postgres.load(server, states, spatial)
        say(f"  PostgreSQL loaded and indexed in {load_s:.1f} s; ranking")
        summary, answers, plan = postgres.measure(
            server, reach_km, needs, params, spatial=spatial, sample=args.sample
        )
    out["postgres"] = {
        "spatial": spatial,
        "load_and_index_s": round(load_s, 2),
        "latency": summary.as_dict(),
        "plan_of_first_query": plan,
    }
    out.setdefault("agreement", {})["postgres"] = agreement.compare(reference, answers).as_dict()
    say(f"  PostgreSQL p50 {summary.p50_ms} ms, p99 {summary.p99_ms} ms")


def _say_inprocess(section: dict[str, Any]) -> None:
    for name, figure in section["spread"].items():
        say(f"  {name}: median {figure['median']:,.4g} (min {figure['min']:,.4g}, "
            f"max {figure['max']:,.4g})")  # fmt: skip


def at_scale(
    args: argparse.Namespace,
    size: int,
    out: dict[str, Any],
    server: postgres.Server,
    results: dict[str, Any],
) -> None:
    """A size beyond `--generate-max`: copies of the base province streamed into one index,
    measured in-process once beside the same-run floors (decode, BallTree); with the postgres
    section, the same copies COPYed into PostgreSQL and the same needs ranked there."""
    base = data.load(
        seed=args.seed, province=args.province, size=args.generate_max, queries=args.queries
    )
    messages = [state.model_dump_json().encode() for state in base.resources]
    needs = base.needs
    reach_km = postgres.max_reach_km(base.resources)  # the copies keep their radii
    del base
    gc.collect()
    say(f"  {size:,} resources: {len(messages):,} generated, the rest moved copies of them")
    ranker, section, reference = inprocess.measure_runs(
        lambda: scale.chunks(messages, size, seed=args.seed), needs, sample=args.sample, repeat=1
    )
    params: ScoreParams = ranker.params
    del ranker
    gc.unfreeze()
    gc.collect()
    _say_inprocess(section)
    out["inprocess"] = section
    out["resources"] = size
    notes: list[str] = out.setdefault("notes", [])
    where = "the wire is" if "postgres" in args.sections else "PostgreSQL and the wire are"
    notes.append(
        f"in-process measured once: {args.generate_max:,} resources from the demo generator "
        f"and {size // args.generate_max - 1} copies of them, each resource moved by up to "
        f"~1 km ({scale.__name__}); {where} measured at the largest generated size"
    )
    if "postgres" in args.sections:
        decoder = msgspec.json.Decoder(ResourceState)
        states = (
            decoder.decode(message)
            for chunk in scale.chunks(messages, size, seed=args.seed)  # the same copies
            for message in chunk
        )
        say(f"  PostgreSQL: COPY of the same {size:,} resources")
        _guarded(notes, "postgres", postgres_ranking, args, server, results, out, states,
                 reach_km, needs, params, reference)  # fmt: skip


async def over_the_wire(
    args: argparse.Namespace, dataset: data.Dataset, out: dict[str, Any], server: postgres.Server
) -> None:
    """The sections on the real stack, its services on databases of their own (dropped after)."""
    databases = {name: f"{args.database}_{name}" for name in ("resources", "needs")}
    service_env = {
        service: {f"LIANJIE_{service.upper()}_DATABASE_URL": server.sqlalchemy_url(name)}
        for service, name in databases.items()
    }
    with postgres.fresh_databases(server, databases.values()):
        await on_the_stack(args, dataset, out, server, service_env)


async def on_the_stack(
    args: argparse.Namespace,
    dataset: data.Dataset,
    out: dict[str, Any],
    server: postgres.Server,
    service_env: dict[str, dict[str, str]],
) -> None:
    """The matcher over NATS, then freshness, reservations and end to end on the real stack."""
    notes: list[str] = out.setdefault("notes", [])
    places = demo.province_needs(seed=args.seed + 7, province=args.province, count=30)
    with Cluster(service_env=service_env, sync_interval=None) as cluster:
        say(f"  stack logs: {cluster.log_path}")
        published_s = await publish_states(cluster.nats_url, dataset.resources)
        out["stream"] = {"published_s": round(published_s, 2)}
        cluster.restart_nats(sync_interval=JetStreamSettings().sync_interval)
        replay = cluster.start_matcher(restart.FIRST_REPLICA_ENV)
        out["stream"]["replica_1_ready_s"] = round(replay, 2)
        say(f"  published in {published_s:.1f} s; replica 1 replayed in {replay:.1f} s")
        reference = out.get("answers_reference")
        if "nats" in args.sections and reference:
            # Compared before the restart section publishes its tail of changed states, which
            # replica 1 follows (the in-process reference holds version 1 of every resource);
            # its texts counted first, or the first free-text request counts them all at once.
            cluster.texts_counted(cluster.newest_matcher())
            _, answers = await run_load(
                cluster.nats_url, dataset.needs[: args.sample], replicas=1, concurrency=1,
                sample=args.sample,
            )  # fmt: skip
            out.setdefault("agreement", {})["nats"] = agreement.compare(
                reference, answers
            ).as_dict()
        if "nats" in args.sections:
            restarts = await restart.measure(
                cluster, dataset.resources, repeat=args.repeat, tail_share=args.restart_tail
            )
            out["stream"]["restart"] = restarts
            snap, full = restarts["snapshot_and_tail_ready_s"], restarts["full_replay_ready_s"]
            say(f"  restarted replica ready: snapshot ({restarts['snapshot_mb']} MB) + tail "
                f"({restarts['tail_messages']:,}) median {snap['median']} s "
                f"({snap['min']}–{snap['max']}); full replay median {full['median']} s "
                f"({full['min']}–{full['max']})")  # fmt: skip
            read, decoded = restarts["snapshot_read_s"], restarts["snapshot_decode_s"]
            if read and decoded:
                say(f"  of which the snapshot's read median {read['median']} s, its decode "
                    f"{decoded['median']} s")  # fmt: skip
        if "nats" in args.sections:
            nats_out: dict[str, Any] = out.setdefault("nats", {})
            serial, _ = await run_load(cluster.nats_url, dataset.needs, replicas=1, concurrency=1)
            nats_out["replicas_1_serial"] = serial.as_dict()
            loaded, _ = await run_load(
                cluster.nats_url, dataset.needs, replicas=1, concurrency=args.concurrency
            )
            nats_out["replicas_1_load"] = loaded.as_dict()
            say(f"  NATS 1 replica: p50 {serial.latency.p50_ms} ms, {loaded.ranks_per_s:.0f}/s")
        # The second replica replays the whole stream, as before snapshots (figure kept).
        replay = cluster.start_matcher({"LIANJIE_MATCHER_SNAPSHOT_LOAD": "false"})
        out["stream"]["replica_2_ready_s"] = round(replay, 2)
        # Measured once it has counted its texts in too: a replica that has just joined spends
        # a core on that for tens of seconds at a million (the open loop's tail at 1M was that).
        counted = cluster.texts_counted(cluster.newest_matcher())
        out["stream"]["replica_2_texts_counted_s"] = round(counted, 2)
        say(f"  replica 2 ready in {replay:.1f} s, its texts counted {counted:.1f} s later")
        if "nats" in args.sections:
            serial, _ = await run_load(cluster.nats_url, dataset.needs, replicas=2, concurrency=1)
            loaded, _ = await run_load(
                cluster.nats_url, dataset.needs, replicas=2, concurrency=args.concurrency
            )
            nats_out["replicas_2_serial"] = serial.as_dict()
            nats_out["replicas_2_load"] = loaded.as_dict()
            say(f"  NATS 2 replicas: p50 {serial.latency.p50_ms} ms, {loaded.ranks_per_s:.0f}/s")
            offered = await run_open_loop(
                cluster.nats_url, dataset.needs, replicas=2, rate=args.open_loop_rate,
                seconds=args.open_loop_seconds, poisson=args.open_loop_arrivals == "poisson",
                seed=args.seed,
            )  # fmt: skip
            nats_out["replicas_2_open_loop"] = offered.as_dict()
            say(f"  NATS 2 replicas at {args.open_loop_rate:,.0f}/s offered: p50 "
                f"{offered.latency.p50_ms} ms, p99 {offered.latency.p99_ms} ms, "
                f"{offered.achieved_per_s:,.0f}/s achieved")  # fmt: skip
            await open_loop_sweep(args, cluster, dataset, nats_out)
        if not {"freshness", "reservations", "e2e"} & set(args.sections):
            return
        cluster.start("resources")
        loop: dict[str, Any] = out.setdefault("loop", {})
        if "freshness" in args.sections:
            fresh = await measure_freshness(
                resources_url=cluster.url("resources"),
                nats_url=cluster.nats_url,
                places=places[:10],
                changes=args.changes,
                token=cluster.stack.token(sub="bench"),
            )
            loop["freshness"] = fresh.as_dict()
            say(f"  freshness p50 {fresh.latency.p50_ms} ms, p99 {fresh.latency.p99_ms} ms")
        if "reservations" in args.sections:
            loop["reservations"] = await reservations_section(args, cluster, server, places)
        if "e2e" in args.sections:
            cluster.start("needs")
            e2e_needs = demo.province_needs(
                seed=args.seed + 11, province=args.province, count=args.e2e_needs
            )
            e2e = await measure_end_to_end(
                needs_url=cluster.url("needs"),
                needs=e2e_needs,
                households=min(200, len(e2e_needs)),
                concurrency=args.e2e_concurrency,
                token=cluster.stack.token(sub="bench"),
            )
            loop["e2e"] = e2e.as_dict()
            notes.append(
                "e2e: households and needs recorded through the needs service (PostgreSQL), "
                "matches asked of 2 matcher replicas over NATS by the needs service itself"
            )
            say(f"  e2e p50 {e2e.latency.p50_ms} ms, {e2e.per_s:.0f} needs matched/s")
            loop["loops"] = await loops_section(args, cluster, server)


async def reservations_section(
    args: argparse.Namespace, cluster: Cluster, server: postgres.Server, places: list[Any]
) -> dict[str, Any]:
    """This checkout's ledger, and the reference commit's beside it, over HTTP and NATS."""
    out = await reservations.measure_section(
        cluster=cluster, server=server, database=f"{args.database}_resources",
        places=places[10:30], clients=args.clients, attempts=args.attempts,
        rounds=args.reservation_rounds, seed=args.seed, reference_rev=args.reservations_reference,
        nats=args.reservations_nats,
    )  # fmt: skip
    nats = out.get("nats", {})
    say(f"  reservations {out['reservations_per_s']}/s (spread {out['spread_per_s']}), "
        f"reference {(out['reference'] or {}).get('reservations_per_s')}/s; over NATS "
        f"{(nats.get('current') or {}).get('reservations_per_s')}/s, reference "
        f"{(nats.get('reference') or {}).get('reservations_per_s')}/s; "
        f"overbooked {out['overbooked_units']}")  # fmt: skip
    return out


async def loops_section(
    args: argparse.Namespace, cluster: Cluster, server: postgres.Server
) -> dict[str, Any]:
    """Full referral loops over HTTP, `--e2e-concurrency` at a time, with their profile: this
    checkout's needs service and the reference commit's (its own database), one at a time (both
    would hear the same NATS subjects), in `--loop-rounds` alternating rounds."""
    places = demo.province_needs(seed=args.seed + 17, province=args.province, count=20)
    tree: Path | None = None
    contenders = [reservations.CURRENT]
    if args.loop_reference != "none":
        tree = reservations.reference_tree(args.loop_reference)
        contenders.append(reservations.REFERENCE)
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in contenders}
    reference_database = [f"{args.database}_needs_ref"] if tree is not None else []
    with postgres.fresh_databases(server, reference_database):  # dropped after the services stop
        try:
            for round_no in range(args.loop_rounds):
                order = contenders if round_no % 2 == 0 else contenders[::-1]
                for label in order:
                    name, url = _needs_for(label, cluster, server, args, tree)
                    runs[label].append(await _loop_round(args, cluster, name, url, places, label))
        finally:
            if "needs-reference" in cluster.stack.processes:
                cluster.stack.stop_process("needs-reference")
            if "needs" not in cluster.stack.processes:
                cluster.start("needs")
            if tree is not None:
                shutil.rmtree(tree.parent, ignore_errors=True)
    out = _median_round(runs[reservations.CURRENT])
    if reservations.REFERENCE in runs:
        out["reference_rev"] = args.loop_reference
        out["reference"] = _median_round(runs[reservations.REFERENCE])
        if out["reference"]["loops_per_s"]:
            ratio = out["loops_per_s"] / out["reference"]["loops_per_s"]
            out["current_over_reference"] = round(ratio, 2)
    return out


def _needs_for(
    label: str,
    cluster: Cluster,
    server: postgres.Server,
    args: argparse.Namespace,
    tree: Path | None,
) -> tuple[str, str]:
    """The needs service of `label` running alone (the other stopped): (process name, URL)."""
    if label == reservations.CURRENT:
        if "needs-reference" in cluster.stack.processes:
            cluster.stack.stop_process("needs-reference")
        if "needs" not in cluster.stack.processes:
            cluster.start("needs")
        return "needs", cluster.url("needs")
    if "needs" in cluster.stack.processes:
        cluster.stack.stop_process("needs")
    assert tree is not None
    database_url = server.sqlalchemy_url(f"{args.database}_needs_ref")
    return reservations.start_reference(
        cluster, tree=tree, database_url=database_url, service="needs"
    )  # fmt: skip


async def _loop_round(
    args: argparse.Namespace,
    cluster: Cluster,
    needs: str,
    needs_url: str,
    places: list[Any],
    label: str,
) -> dict[str, Any]:
    """One round of `--loops` loops against the needs service `needs`, with the load average."""
    processes = (needs, "resources", *cluster.matchers)
    pids = {name: cluster.stack.processes[name].popen.pid for name in processes}
    load_before = os.getloadavg()[0]
    loops = await measure_loops(
        needs_url=needs_url, resources_url=cluster.url("resources"), places=places,
        loops=args.loops, concurrency=args.e2e_concurrency,
        token=cluster.stack.token(sub="bench"), pids=pids,
    )  # fmt: skip
    out = loops.as_dict()
    out["load_average"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    say(f"  loops ({label}) {out['loops_per_s']}/s, p50 {loops.latency.p50_ms} ms, "
        f"p99 {loops.latency.p99_ms} ms, load {out['load_average']}; "
        f"errors {loops.errors or 'none'}")  # fmt: skip
    return out


def _median_round(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median round by loops/s, with the spread and every round."""
    ordered = sorted(runs, key=lambda run: run["loops_per_s"])
    rates = [run["loops_per_s"] for run in ordered]
    return {**ordered[len(ordered) // 2], "spread_per_s": [rates[0], rates[-1]], "rounds": runs}


def imports_section(args: argparse.Namespace, out: dict[str, Any], server: postgres.Server) -> None:
    """A prefecture's volunteers imported from CSV, beside the floor (COPY), and creating one
    resource next to 10,000 others beside the scan registration did before the index."""
    say(f"  imports: {', '.join(f'{n:,}' for n in args.import_sizes)} volunteer rows")
    out["imports"] = imports.measure(
        server=server, database=f"{args.database}_imports", sizes=args.import_sizes, seed=args.seed
    )
    for size in args.import_sizes:
        run = out["imports"][f"import_{size}"]
        say(f"  imported {size:,} rows in {run['seconds']} s ({run['ms_per_row']} ms/row; "
            f"COPY floor {out['imports'][f'floor_{size}']['ms_per_row']} ms/row)")  # fmt: skip
    near = out["imports"]["create_near_10k"]["latency"]
    say(f"  create next to 10,000: p50 {near['p50_ms']} ms, p99 {near['p99_ms']} ms")


async def open_loop_sweep(
    args: argparse.Namespace, cluster: Cluster, dataset: data.Dataset, nats_out: dict[str, Any]
) -> None:
    """The open loop at each rate of `--open-loop-sweep`: the highest offered rate whose p99
    stays within `P99_LIMIT_MS`, for when the machine cannot offer or serve the full rate."""
    sweep = []
    for rate in args.open_loop_sweep:
        run = await run_open_loop(
            cluster.nats_url, dataset.needs, replicas=2, rate=rate,
            seconds=args.open_loop_seconds, poisson=args.open_loop_arrivals == "poisson",
            seed=args.seed,
        )  # fmt: skip
        sweep.append(run.as_dict())
        say(f"  open loop at {rate:,.0f}/s: p99 {run.latency.p99_ms} ms, generator late by "
            f"p99 {run.send_lag.p99_ms} ms")  # fmt: skip
    if sweep:
        within = [r["offered_per_s"] for r in sweep if r["latency"]["p99_ms"] <= P99_LIMIT_MS]
        nats_out["open_loop_sweep"] = sweep
        nats_out["highest_rate_within_p99_limit"] = max(within, default=0)


P99_LIMIT_MS = 10.0


def sync_section(
    args: argparse.Namespace, dataset: data.Dataset, out: dict[str, Any], server: postgres.Server
) -> None:
    """What `sync_interval: always` costs against nats-server's default, on fresh stacks."""
    plan = sync.SyncPlan()
    say("  JetStream sync policy: nats-server's default vs always")
    places = demo.province_needs(
        seed=args.seed + 13, province=args.province, count=plan.registrations + plan.burst
    )
    out["sync"] = sync.measure(
        server=server,
        database=f"{args.database}_sync",
        payload=dataset.resources[0].model_dump_json().encode(),
        places=places,
        plan=plan,
    )
    for label in sync.POLICIES:
        policy = out["sync"][label]
        say(f"  sync {label}: ack p50 {policy['ack_latency_1_in_flight']['p50_ms']} ms, "
            f"{policy['publishes_per_s']:,.0f} publishes/s, registration → matcher p50 "
            f"{policy['registration_to_matcher']['p50_ms']} ms")  # fmt: skip


def _ratios(out: dict[str, Any]) -> None:
    base = (out.get("inprocess") or {}).get("latency", {}).get("p50_ms")
    if not base:
        return
    ratios = {}
    for name, path in {
        "numpy_over_inprocess_p50": ("numpy", "latency"),
        "postgres_over_inprocess_p50": ("postgres", "latency"),
        "nats_2_replicas_over_inprocess_p50": ("nats", "replicas_2_serial", "latency"),
    }.items():
        node: Any = out
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node:
            ratios[name] = round(node["p50_ms"] / base, 2)
    nats_p50 = out.get("nats", {}).get("replicas_2_serial", {}).get("latency", {}).get("p50_ms")
    pg_p50 = out.get("postgres", {}).get("latency", {}).get("p50_ms")
    if nats_p50 and pg_p50:
        ratios["postgres_over_nats_2_replicas_p50"] = round(pg_p50 / nats_p50, 2)
    out["ratios"] = ratios


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    server = postgres.Server(admin_url=args.postgres, database=args.database)
    results: dict[str, Any] = {
        "date": date.today().isoformat(),
        "command": "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": report.machine(),
        "config": {
            k: v
            for k, v in vars(args).items()
            if k not in ("postgres", "only", "no_readme", "results")
        },
        "weights": MatcherSettings().weights.as_dict(),
        "sizes": {},
        "notes": [
            "needs carry no free text, so the text component is 0 for every method",
            "top-k agreement: share of sampled needs whose top-k ids equal the in-process "
            "matcher's, in order; see bench/agreement.py for the tolerance rule",
            "NATS: one Python load generator (one connection) shares the machine's cores with "
            "the replicas; '1 in flight' is latency; ranks/s is throughput in a closed loop with "
            f"{args.concurrency} in flight (its latencies are mostly queueing: in flight ÷ "
            "rate, by Little's law); the 'under load' targets use the open loop: "
            f"{args.open_loop_arrivals} arrivals at {args.open_loop_rate:,.0f} requests/s "
            f"offered for {args.open_loop_seconds:g} s, each latency counted from the request's "
            "scheduled send time, so queueing in the generator or the replicas is not hidden; "
            "'sent late' says how far the generator itself fell behind its schedule (a large "
            "value means the machine, not only the replicas, could not keep up)",
            "over the wire, the resources stream is loaded with nats-server's default fsync "
            "policy (with `always` every stored message waits for its fsync: minutes at a "
            "million), then nats-server restarts on the same store as `lianjie up` writes it: "
            f"sync_interval {JetStreamSettings().sync_interval} (LIANJIE_JETSTREAM_SYNC_INTERVAL)",
            "freshness: from the reserve's HTTP reply (committed) to the first rank answer over "
            "NATS (either replica) showing the new remaining capacity",
            "reservations: HTTP POST /capacity/reserve on the resources service (PostgreSQL), "
            "and the same over NATS request-reply, one unit each, capacity for 80 % of the "
            "attempts; overbooked = units held beyond capacity, read from the service's tables "
            "afterwards; the reference is the resources service of the commit named, from "
            "`git archive`, on its own database in the same stack",
            "loops: full referral loops through the needs service's HTTP API with "
            f"{args.e2e_concurrency} clients; a need is referred to a resource registered "
            "through the resources service at its place (with a reason when the matcher's top "
            "match is one of the stream-only bench resources); CPU per loop read from /proc",
            "imports: in process (the import route's code), a fresh database per size; the "
            "machine is shared, so compare each figure with its same-run reference",
        ],
    }
    uses_postgres = {"postgres", "reservations", "e2e", "freshness", "sync", "imports"} & set(
        args.sections
    )
    if uses_postgres:
        with psycopg.connect(args.postgres) as conn:
            row = conn.execute("SELECT version()").fetchone()
            results["postgres_version"] = str(row[0]).split(" on ")[0] if row else "unknown"
    for size in args.sizes:
        say(f"== {size:,} resources, {args.queries:,} needs (seed {args.seed})")
        out: dict[str, Any] = {"resources": size}
        results["sizes"][str(size)] = out
        if size > args.generate_max:
            _guarded(
                out.setdefault("notes", []), "scale", at_scale, args, size, out, server, results
            )
            _ratios(out)
            continue
        dataset = data.load(seed=args.seed, province=args.province, size=size, queries=args.queries)
        if RANKING & set(args.sections) or "nats" in args.sections:
            rank_four_ways(args, dataset, out, server, results)
        if WIRE & set(args.sections):
            if size <= args.wire_max:
                wire = over_the_wire(args, dataset, out, server)
                _guarded(out.setdefault("notes", []), "over the wire", asyncio.run, wire)
            else:
                out.setdefault("notes", []).append(
                    f"over-the-wire sections not measured at this size (--wire-max "
                    f"{args.wire_max:,}): each replica would replay {size:,} resources"
                )
        if "imports" in args.sections and size == min(args.sizes):
            _guarded(out.setdefault("notes", []), "imports", imports_section, args, out, server)
        if "sync" in args.sections and size == min(args.sizes):
            _guarded(out.setdefault("notes", []), "sync", sync_section, args, dataset, out, server)
        out.pop("answers_reference", None)
        _ratios(out)
        del dataset
        gc.collect()
    if args.merge:
        _merge_earlier(results, args.results)
    _postgres_at_scale(results)
    paths = report.write(results, args.results)
    for kind, path in paths.items():
        say(f"wrote {kind}: {path}")
    table = paths["md"].read_text("utf-8")
    print(table)
    if not args.no_readme and not report.update_readme(table):
        say("README.md has no <!-- bench:start --> / <!-- bench:end --> markers: not updated")
    return 0


def _postgres_at_scale(results: dict[str, Any]) -> None:
    """Sizes measured in-process only, held against PostgreSQL at the largest size it ran: a
    lower bound of the ratio, as PostgreSQL only slows down with more rows."""
    measured = [
        (int(size), p50)
        for size, r in results["sizes"].items()
        if (p50 := r.get("postgres", {}).get("latency", {}).get("p50_ms"))
    ]
    if not measured:
        return
    pg_size, pg_p50 = max(measured)
    for size, r in results["sizes"].items():
        p50 = r.get("inprocess", {}).get("latency", {}).get("p50_ms")
        if int(size) > pg_size and "postgres" not in r and p50:
            r.setdefault("ratios", {})["postgres_over_inprocess_p50"] = round(pg_p50 / p50, 2)
            r.setdefault("notes", []).append(
                f"PostgreSQL ÷ in-process: PostgreSQL's p50 at {pg_size:,} resources (the "
                f"largest it ran, {pg_p50} ms) over the matcher's at {int(size):,}: a lower "
                "bound, PostgreSQL only slows down with more rows"
            )


def _merge_earlier(results: dict[str, Any], folder: Path) -> None:
    """Add the sizes of today's earlier results that this run did not measure again."""
    earlier_path = folder / f"{results['date']}.json"
    if not earlier_path.exists():
        return
    earlier = json.loads(earlier_path.read_text("utf-8"))
    kept = [size for size in earlier.get("sizes", {}) if size not in results["sizes"]]
    for size in kept:
        results["sizes"][size] = earlier["sizes"][size]
    results["sizes"] = dict(sorted(results["sizes"].items(), key=lambda item: int(item[0])))
    if kept:
        load = earlier.get("machine", {}).get("load_average_at_start", "unknown")
        sizes = ", ".join(f"{int(size):,}" for size in kept)
        results["notes"].append(f"sizes {sizes} measured by an earlier run today (load {load})")


if __name__ == "__main__":
    sys.exit(main())

"""Reservations side by side: the resources service of this checkout and of a reference commit
(by default the code before issue 21's work on the ledger), each on its own PostgreSQL database
in the same stack, measured in alternating rounds by the same 50 clients, so a busy machine
slows both alike and the ratio stands. Each round also reads the CPU seconds the service
process spent, per reservation attempt: where the time goes, on the service's side."""

import asyncio
import os
import random
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import nats

from bench import postgres
from bench.cluster import Cluster
from bench.latency import now
from bench.loop import (
    HTTP_TIMEOUT_S,
    Load,
    Reservations,
    bearer,
    cpu_seconds,
    fought_over,
    measure_reservations,
    overbooking,
)
from cli.stack import free_port
from shared.contracts.matcher import RankRequest
from shared.contracts.resources import CAPACITY_RESERVE, CapacityRequest
from shared.http_server import H11, HTTPTOOLS
from shared.messaging import STATUS_HEADER

REFERENCE_REV = "cb1782e"
"""Today's code when issue 21's reservation goal was taken up (its 71.6/s run)."""
READY_TIMEOUT_S = 120.0
REFERENCE_NAME = "resources-reference"
CURRENT, REFERENCE = "current", "reference"
REFERENCE_HTTPTOOLS = "reference_httptools"
"""The reference served as this checkout is (httptools, uvloop), in the HTTP rounds only: at its
commit uvicorn chose h11 and asyncio, httptools and uvloop not being dependencies, and that is
how `reference` is served. The two show what the server alone gives either side."""
REFERENCE_SERVING = {REFERENCE: H11, REFERENCE_HTTPTOOLS: HTTPTOOLS}


def reference_tree(rev: str) -> Path:
    """The repository at `rev`, unpacked into a temporary folder (`git archive`)."""
    folder = Path(tempfile.mkdtemp(prefix="lianjie-bench-reference-"))
    archive = folder / "tree.tar"
    root = Path(__file__).parent.parent
    subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", "-o", str(archive), rev], check=True
    )
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "tree", filter="data")
    archive.unlink()
    return folder / "tree"


def start_reference(
    cluster: Cluster,
    *,
    tree: Path,
    database_url: str,
    service: str = "resources",
    label: str = REFERENCE,
) -> tuple[str, str]:
    """`service` (resources by default) from `tree` on its own port and database, served as the
    reference `label` is (`REFERENCE_SERVING`): (name, URL)."""
    name, port = _process_name(label, service), free_port()
    cluster.stack.start_service(
        service,
        name=name,
        port=port,
        app_dir=tree,
        env_override={f"LIANJIE_{service.upper()}_DATABASE_URL": database_url},
        serving=REFERENCE_SERVING[label],
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            cluster.stack._check_alive(name)
            try:
                if client.get(f"{url}/readyz").status_code == 200:
                    return name, url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise TimeoutError(f"the reference {service} service was not ready in {READY_TIMEOUT_S:g}s")


@dataclass(frozen=True)
class Contender:
    """One resources service under test."""

    label: str
    url: str
    database_url: str
    pid: int


async def side_by_side(*, contenders: list[Contender], load: Load, rounds: int) -> dict[str, Any]:
    """`rounds` rounds of each contender, alternating who goes first; per contender the
    median, fastest and slowest round, CPU ms per attempt, and the totals of the checks."""
    runs: dict[str, list[dict[str, Any]]] = {c.label: [] for c in contenders}
    for round_no in range(rounds):
        order = contenders if round_no % 2 == 0 else contenders[::-1]
        for contender in order:
            before = _cpu_now(contender.pid)
            held = await measure_reservations(
                resources_url=contender.url,
                database_url=contender.database_url,
                load=replace(load, seed=load.seed + round_no),
            )
            runs[contender.label].append(_with_cpu(held, contender.pid, before))
    out = {label: summary(label_runs) for label, label_runs in runs.items()}
    for label in REFERENCE_SERVING:
        if label in out and out[label]["reservations_per_s"]:
            out[f"current_over_{label}"] = round(
                out[CURRENT]["reservations_per_s"] / out[label]["reservations_per_s"], 2
            )
    return out


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median round's rate with the spread, and every check summed over the rounds."""
    rates = [run["reservations_per_s"] for run in runs]
    return {
        "reservations_per_s": round(statistics.median(rates), 1),
        "spread_per_s": [min(rates), max(rates)],
        "service_cpu_ms_per_attempt": statistics.median(
            run["service_cpu_ms_per_attempt"] for run in runs
        ),
        "client_cpu_ms_per_attempt": statistics.median(
            run["client_cpu_ms_per_attempt"] for run in runs
        ),
        "overbooked_units": sum(run["overbooked_units"] for run in runs),
        "ledger_mismatches": sum(run["ledger_mismatches"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
        "rounds": runs,
    }


NATS_TIMEOUT_S = 10.0


async def measure_over_nats(
    *, nats_url: str, resources_url: str, database_url: str, load: Load
) -> Reservations:
    """As `measure_reservations`, but each reserve is asked the way the needs service asks it:
    a request on `lianjie.resources.capacity.reserve.v1` (queue group, one connection)."""
    places, clients, attempts, token = load.places, load.clients, load.attempts, load.token
    rng = random.Random(load.seed)
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, headers=bearer(token)) as client:
        ids, targets = await fought_over(client, resources_url, places, attempts, rng)
    counts = {"200": 0, "409": 0, "errors": 0}
    nc = await nats.connect(nats_url)

    async def one_client() -> None:
        for resource_id in targets:
            ask = CapacityRequest(resource_id=resource_id, referral_id=f"nats-{uuid.uuid4()}")
            try:
                reply = await nc.request(
                    CAPACITY_RESERVE, ask.model_dump_json().encode(), timeout=NATS_TIMEOUT_S
                )
            except (TimeoutError, nats.errors.Error):
                counts["errors"] += 1
                continue
            status = (reply.headers or {}).get(STATUS_HEADER, "200")
            counts[status if status in counts else "errors"] += 1

    try:
        start = now()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        seconds = now() - start
    finally:
        await nc.close()
    over, mismatched = overbooking(database_url, ids)
    return Reservations(
        clients, attempts, counts["200"], counts["409"], counts["errors"], seconds, over,
        mismatched,
    )  # fmt: skip


async def measure_section(
    *,
    cluster: Cluster,
    server: postgres.Server,
    database: str,
    places: list[RankRequest],
    clients: int,
    attempts: int,
    rounds: int,
    seed: int,
    reference_rev: str,
    reference_httptools: bool = False,
    nats: bool = True,
) -> dict[str, Any]:
    """Over HTTP: both services up, alternating rounds (and the reference served with
    httptools too, if `reference_httptools`). Over NATS, unless `nats` is false (both would
    answer in the same queue group): this checkout's rounds with the reference stopped, then
    the reference's with this checkout's service stopped (started again after)."""
    load = Load(places, clients, attempts, seed, cluster.stack.token(sub="bench"))
    current = Contender(
        CURRENT, cluster.url("resources"), server.url(database), _pid(cluster, "resources")
    )
    references: list[Contender] = []
    tree: Path | None = None
    if reference_rev != "none":
        tree = reference_tree(reference_rev)
        labels = [REFERENCE, REFERENCE_HTTPTOOLS] if reference_httptools else [REFERENCE]
        references = [
            _started_reference(
                cluster, server, tree=tree, database=database, label=label, fresh=True
            )
            for label in labels
        ]
    try:
        held = await side_by_side(contenders=[current, *references], load=load, rounds=rounds)
        for reference in references:
            cluster.stack.stop_process(_process_name(reference.label))
        nats_runs = {CURRENT: await _nats_rounds(cluster, current, load, rounds)} if nats else {}
        if nats and references and tree is not None:
            cluster.stack.stop_process("resources")
            moved = _started_reference(cluster, server, tree=tree, database=database)
            nats_runs[REFERENCE] = await _nats_rounds(cluster, moved, load, rounds)
            cluster.stack.stop_process(REFERENCE_NAME)
            cluster.start("resources")
    finally:
        for label in REFERENCE_SERVING:
            if _process_name(label) in cluster.stack.processes:
                cluster.stack.stop_process(_process_name(label))
        if tree is not None:
            shutil.rmtree(tree.parent, ignore_errors=True)
            for label in REFERENCE_SERVING:
                postgres.drop_database(server, reference_database(database, label))
    out = {**held[CURRENT], "reference_rev": reference_rev}
    for label in REFERENCE_SERVING:
        out[label] = held.get(label)
        out[f"current_over_{label}"] = held.get(f"current_over_{label}")
    if not nats_runs:
        return out
    out["nats"] = {label: summary(runs) for label, runs in nats_runs.items()}
    if REFERENCE in nats_runs and out["nats"][REFERENCE]["reservations_per_s"]:
        out["nats"]["current_over_reference"] = round(
            out["nats"][CURRENT]["reservations_per_s"]
            / out["nats"][REFERENCE]["reservations_per_s"],
            2,
        )
    out["overbooked_units"] += sum(r["overbooked_units"] for r in out["nats"][CURRENT]["rounds"])
    return out


def _cpu_now(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by the service `pid` and by this process (the clients)."""
    return cpu_seconds(pid), cpu_seconds(os.getpid())


def _with_cpu(held: Reservations, pid: int, before: tuple[float, float]) -> dict[str, Any]:
    """A round's figures with CPU ms per attempt since `before` (`_cpu_now`): the service's,
    and the load generator's (its clients share the machine: when theirs is the larger, the
    rate measures them as much as the service)."""
    run = held.as_dict()
    service, clients = _cpu_now(pid)
    run["service_cpu_ms_per_attempt"] = round((service - before[0]) * 1000 / held.attempts, 2)
    run["client_cpu_ms_per_attempt"] = round((clients - before[1]) * 1000 / held.attempts, 2)
    return run


def _process_name(label: str, service: str = "resources") -> str:
    """The stack's name of the reference `label`'s process of `service`."""
    return f"{service}-reference" + label.removeprefix(REFERENCE).replace("_", "-")


def reference_database(database: str, label: str) -> str:
    """The database of the reference `label`, beside this checkout's `database`."""
    return f"{database}_ref{label.removeprefix(REFERENCE)}"


def _started_reference(
    cluster: Cluster,
    server: postgres.Server,
    *,
    tree: Path,
    database: str,
    label: str = REFERENCE,
    fresh: bool = False,
) -> Contender:
    """The reference `label` started on its own database (a new one if `fresh`)."""
    name = reference_database(database, label)
    if fresh:
        postgres.create_database(server, name)
    started, url = start_reference(
        cluster, tree=tree, database_url=server.sqlalchemy_url(name), label=label
    )
    return Contender(label, url, server.url(name), _pid(cluster, started))


def _pid(cluster: Cluster, name: str) -> int:
    return cluster.stack.processes[name].popen.pid


async def _nats_rounds(
    cluster: Cluster, contender: Contender, load: Load, rounds: int
) -> list[dict[str, Any]]:
    runs = []
    for round_no in range(rounds):
        before = _cpu_now(contender.pid)
        held = await measure_over_nats(
            nats_url=cluster.nats_url,
            resources_url=contender.url,
            database_url=contender.database_url,
            load=replace(load, seed=load.seed + 100 + round_no),
        )
        runs.append(_with_cpu(held, contender.pid, before))
    return runs

"""What JetStream's fsync policy costs (issue 9). `lianjie up` (LIANJIE_JETSTREAM_SYNC_INTERVAL)
and deploy/k8s set `sync_interval: always`: a message is acknowledged only once it is on disk.
Measured against nats-server's default (fsync every two minutes) on the same machine and disk:
publish acks one at a time and with a window in flight, then the outbox relay's path from a
resource registered over HTTP to the matcher ranking it. The index size plays no part."""

import asyncio
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js.api import StreamConfig

from bench import postgres
from bench.cluster import Cluster
from bench.latency import Summary, now, summarize
from bench.loop import bearer, probe, remaining_seen, resource_body
from shared.contracts.matcher import RankRequest

POLICIES: dict[str, str | None] = {"default": None, "always": "always"}
"""Label → the `sync_interval` written into nats.conf (`None`: left to nats-server, 2 min)."""
SCRATCH_STREAM, SCRATCH_SUBJECT = "BENCH_SYNC", "bench.sync.event"
VISIBLE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SyncPlan:
    """How much to measure per policy."""

    serial_publishes: int = 1000
    window_publishes: int = 10_000
    window: int = 64
    registrations: int = 50  # one at a time: HTTP reply → the matcher ranks it
    burst: int = 400  # registered by `clients` at once: how fast the relay drains them
    clients: int = 16


@dataclass(frozen=True)
class Acks:
    """JetStream publishes acknowledged one at a time, and with `window` in flight."""

    serial: Summary
    window: int
    window_per_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "ack_latency_1_in_flight": self.serial.as_dict(),
            "window": self.window,
            "publishes_per_s": round(self.window_per_s, 1),
        }


async def measure_acks(nats_url: str, payload: bytes, plan: SyncPlan) -> Acks:
    """Publish to a scratch stream (deleted afterwards) and time the acks."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=SCRATCH_STREAM, subjects=[SCRATCH_SUBJECT]))
    try:
        for _ in range(20):  # warm up
            await js.publish(SCRATCH_SUBJECT, payload)
        timings = []
        for _ in range(plan.serial_publishes):
            start = now()
            await js.publish(SCRATCH_SUBJECT, payload)
            timings.append(now() - start)
        work = iter(range(plan.window_publishes))

        async def publisher() -> None:
            for _ in work:
                await js.publish(SCRATCH_SUBJECT, payload)

        began = now()
        await asyncio.gather(*(publisher() for _ in range(plan.window)))
        per_s = plan.window_publishes / (now() - began)
    finally:
        await js.delete_stream(SCRATCH_STREAM)
        await nc.close()
    return Acks(summarize(timings), plan.window, per_s)


@dataclass(frozen=True)
class Visibility:
    """From a registration's HTTP reply (committed with its outbox event) to the matcher's first
    rank answer that holds it; and a burst: registrations/s over HTTP, and how long until the
    matcher's index held all of them."""

    one_at_a_time: Summary
    burst: int
    clients: int
    registrations_per_s: float
    all_visible_s: float
    behind_last_reply_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "registration_to_matcher": self.one_at_a_time.as_dict(),
            "burst": self.burst,
            "clients": self.clients,
            "registrations_per_s": round(self.registrations_per_s, 1),
            "all_visible_s": round(self.all_visible_s, 3),
            "events_per_s_to_matcher": round(self.burst / self.all_visible_s, 1),
            "matcher_behind_last_reply_s": round(self.behind_last_reply_s, 3),
        }


async def _register(client: httpx.AsyncClient, resources_url: str, place: RankRequest) -> str:
    body = resource_body("同步基准资源", place.lat, place.lon, place.category, total=10)
    response = await client.post(f"{resources_url}/resources", json=body)
    response.raise_for_status()
    return str(response.json()["id"])


async def _one_at_a_time(
    client: httpx.AsyncClient, resources_url: str, nc: nats.NATS, places: list[RankRequest]
) -> list[float]:
    timings = []
    for place in places:
        resource_id = await _register(client, resources_url, place)
        committed = now()
        question = probe(category=place.category, lat=place.lat, lon=place.lon)
        while await remaining_seen(nc, question, resource_id) is None:
            if now() - committed > VISIBLE_TIMEOUT_S:
                raise TimeoutError(f"the matcher never saw resource {resource_id}")
        timings.append(now() - committed)
    return timings


async def _indexed(client: httpx.AsyncClient, matcher_url: str) -> int:
    response = await client.get(f"{matcher_url}/index")
    response.raise_for_status()
    return int(response.json()["resources"])


async def _burst(
    client: httpx.AsyncClient, resources_url: str, matcher_url: str, places: list[RankRequest],
    clients: int,
) -> tuple[float, float, float]:  # fmt: skip
    """(registrations/s over HTTP, seconds until all indexed, of which after the last reply)."""
    expected = await _indexed(client, matcher_url) + len(places)
    work = iter(places)

    async def one_client() -> None:
        for place in work:
            await _register(client, resources_url, place)

    began = now()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    replied = now()
    while await _indexed(client, matcher_url) < expected:
        if now() - replied > VISIBLE_TIMEOUT_S:
            raise TimeoutError(f"the matcher's index never reached {expected} resources")
        await asyncio.sleep(0.005)
    seen = now()
    return len(places) / (replied - began), seen - began, seen - replied


async def measure_visibility(
    cluster: Cluster, places: list[RankRequest], plan: SyncPlan
) -> Visibility:
    """Registrations through the resources service's HTTP API, seen by the matcher."""
    token = cluster.stack.token(sub="bench")
    limits = httpx.Limits(max_connections=plan.clients, max_keepalive_connections=plan.clients)
    resources_url, matcher_url = cluster.url("resources"), cluster.url("matcher")
    async with httpx.AsyncClient(timeout=30.0, limits=limits, headers=bearer(token)) as client:
        nc = await nats.connect(cluster.nats_url)
        try:
            first = places[: plan.registrations]
            timings = await _one_at_a_time(client, resources_url, nc, first)
        finally:
            await nc.close()
        rest = places[plan.registrations : plan.registrations + plan.burst]
        rate, visible_s, behind_s = await _burst(
            client, resources_url, matcher_url, rest, plan.clients
        )
    return Visibility(summarize(timings), len(rest), plan.clients, rate, visible_s, behind_s)


def store_filesystem(path: Path) -> str:
    """The file system type under the JetStream store: fsync on tmpfs costs nothing."""
    try:
        out = subprocess.run(
            ["findmnt", "-n", "-o", "FSTYPE", "--target", str(path)],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def measure_policy(
    *, sync_interval: str | None, service_env: dict[str, dict[str, str]], payload: bytes,
    places: list[RankRequest], plan: SyncPlan,
) -> dict[str, Any]:  # fmt: skip
    """One fresh stack (nats-server with this policy, an empty stream, one matcher and the
    resources service) measured end to end."""
    with Cluster(service_env=service_env, sync_interval=sync_interval) as cluster:
        acks = asyncio.run(measure_acks(cluster.nats_url, payload, plan))
        cluster.start_matcher()
        cluster.start("resources")
        visibility = asyncio.run(measure_visibility(cluster, places, plan))
        return {
            "sync_interval": sync_interval or "nats-server default (2m)",
            "store_filesystem": store_filesystem(cluster.folder),
            **acks.as_dict(),
            **visibility.as_dict(),
        }


def measure(
    *, server: postgres.Server, database: str, payload: bytes, places: list[RankRequest],
    plan: SyncPlan,
) -> dict[str, Any]:  # fmt: skip
    """Both policies, each on a fresh stack and a fresh resources database (PostgreSQL)."""
    results: dict[str, Any] = {"plan": asdict(plan)}
    for label, sync_interval in POLICIES.items():
        url = server.sqlalchemy_url(database)
        service_env = {"resources": {"LIANJIE_RESOURCES_DATABASE_URL": url}}
        with postgres.fresh_databases(server, [database]):
            results[label] = measure_policy(
                sync_interval=sync_interval, service_env=service_env, payload=payload,
                places=places, plan=plan,
            )  # fmt: skip
    return results

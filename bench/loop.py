"""The referral loop over the wire: how fresh the matcher's answers are after a capacity
change, how many reservations PostgreSQL takes under 50 concurrent clients (and whether any
unit is overbooked), and creating a need and asking for its matches end to end over HTTP."""

import asyncio
import json
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg

from bench.latency import Summary, now, summarize
from bench.wire import KeepAlive, WireError
from shared.contracts.matcher import RANK, RankReply, RankRequest

FRESHNESS_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 30.0


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a bench client."""
    return {"Authorization": f"Bearer {token}"}


def resource_body(name: str, lat: float, lon: float, category: str, total: int) -> dict[str, Any]:
    """A registration of a verified charity at one place, offering one category."""
    return {
        "name": name,
        "kind": "charity",
        "categories": [category],
        "description": "基准测试资源",
        "location": {"lat": lat, "lon": lon},
        "radius_km": 5,
        "capacity": {"total": total, "unit": "persons", "period": "month"},
        "verified": True,
    }


async def create_resources(
    client: httpx.AsyncClient, resources_url: str, places: list[RankRequest], total: int
) -> list[dict[str, Any]]:
    """One resource at each place, registered through the resources service."""
    created = []
    for i, place in enumerate(places):
        body = resource_body(f"基准资源{i:03d}", place.lat, place.lon, place.category, total)
        response = await client.post(f"{resources_url}/resources", json=body)
        response.raise_for_status()
        created.append(response.json())
    return created


def probe(*, category: str, lat: float, lon: float) -> bytes:
    """A rank request at a resource's own door asking for what it offers: it must rank there."""
    request = RankRequest(
        category=category, lat=lat, lon=lon, groups=["elderly"], k=100, max_distance_km=0.5
    )
    return request.model_dump_json().encode()


async def remaining_seen(nc: nats.NATS, question: bytes, resource_id: str) -> int | None:
    """The remaining capacity the matcher reports for the resource; None while it lacks it."""
    msg = await nc.request(RANK, question, timeout=5.0)
    for result in RankReply.model_validate_json(msg.data).results:
        if result.resource_id == resource_id:
            return result.capacity_remaining
    return None


@dataclass(frozen=True)
class Freshness:
    """Seconds from a committed capacity change to the first rank answer that shows it."""

    changes: int
    latency: Summary
    timeouts: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "changes": self.changes,
            "latency": self.latency.as_dict(),
            "timeouts": self.timeouts,
        }


async def measure_freshness(
    *, resources_url: str, nats_url: str, places: list[RankRequest], changes: int, token: str
) -> Freshness:
    """Reserve one unit, then ask the matcher (over NATS, any replica) until it reports the
    remaining capacity the reservation left."""
    timings: list[float] = []
    timeouts = 0
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, headers=bearer(token)) as client:
        resources = await create_resources(client, resources_url, places, total=changes + 10)
        nc = await nats.connect(nats_url)
        try:
            probes = [
                probe(category=r["categories"][0], lat=r["lat"], lon=r["lon"]) for r in resources
            ]
            for resource, question in zip(resources, probes, strict=True):  # wait for creation
                deadline = now() + 60
                while await remaining_seen(nc, question, resource["id"]) is None:
                    if now() > deadline:
                        raise TimeoutError(f"the matcher never saw resource {resource['id']}")
                    await asyncio.sleep(0.05)
            for i in range(changes):
                resource, question = resources[i % len(resources)], probes[i % len(resources)]
                body = {"resource_id": resource["id"], "referral_id": f"fresh-{uuid.uuid4()}"}
                response = await client.post(f"{resources_url}/capacity/reserve", json=body)
                response.raise_for_status()
                committed = now()
                expected = response.json()["capacity_remaining"]
                while await remaining_seen(nc, question, resource["id"]) != expected:
                    if now() - committed > FRESHNESS_TIMEOUT_S:
                        timeouts += 1
                        break
                else:
                    timings.append(now() - committed)
        finally:
            await nc.close()
    return Freshness(changes, summarize(timings), timeouts)


@dataclass(frozen=True)
class Reservations:
    """Reservations taken by concurrent clients, refusals, and units held beyond capacity."""

    clients: int
    attempts: int
    reserved: int
    refused: int
    errors: int
    seconds: float
    overbooked_units: int
    ledger_mismatches: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "attempts": self.attempts,
            "reserved": self.reserved,
            "refused_no_capacity": self.refused,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "reservations_per_s": round(self.reserved / self.seconds, 1),
            "attempts_per_s": round(self.attempts / self.seconds, 1),
            "overbooked_units": self.overbooked_units,
            "ledger_mismatches": self.ledger_mismatches,
        }


def overbooking(database_url: str, resource_ids: list[str]) -> tuple[int, int]:
    """(units held beyond capacity, resources whose remaining ≠ total − held), read from the
    resources service's own tables after the run."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """SELECT r.capacity_total, r.capacity_remaining,
                      coalesce(sum(v.units) FILTER (WHERE v.state IN ('reserved', 'consumed')), 0)
                 FROM resource r LEFT JOIN reservation v ON v.resource_id = r.id
                WHERE r.id = ANY(%s) GROUP BY r.id""",
            (resource_ids,),
        ).fetchall()
    over = sum(max(0, int(held) - total) for total, _, held in rows)
    mismatched = sum(1 for total, remaining, held in rows if remaining != total - int(held))
    return over, mismatched


async def fought_over(
    client: httpx.AsyncClient,
    resources_url: str,
    places: list[RankRequest],
    attempts: int,
    rng: random.Random,
) -> tuple[list[str], Iterator[str]]:
    """Resources at `places` with capacity for 80 % of `attempts` in all, and the resource
    each attempt asks for (at random): their ids, and the attempts' targets to share out."""
    per_resource = max(1, int(attempts * 0.8) // len(places))
    resources = await create_resources(client, resources_url, places, total=per_resource)
    ids = [r["id"] for r in resources]
    return ids, iter([rng.choice(ids) for _ in range(attempts)])


@dataclass(frozen=True)
class Load:
    """What the reservation clients do: `clients` at once, `attempts` in all, at resources
    registered at `places`."""

    places: list[RankRequest]
    clients: int
    attempts: int
    seed: int
    token: str


async def measure_reservations(
    *, resources_url: str, database_url: str, load: Load
) -> Reservations:
    """`clients` concurrent clients reserve one unit each time at random resources, whose
    capacity covers 80 % of the attempts, so the last units are fought over. Each client is one
    keep-alive connection of `bench.wire` (httpx cost the load generator as much CPU as the
    service it measured)."""
    places, clients, attempts, token = load.places, load.clients, load.attempts, load.token
    rng = random.Random(load.seed)
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, headers=bearer(token)) as client:
        ids, targets = await fought_over(client, resources_url, places, attempts, rng)
    counts = {"reserved": 0, "refused": 0, "errors": 0}

    async def one_client() -> None:
        async with KeepAlive(
            resources_url, headers=bearer(token), timeout_s=HTTP_TIMEOUT_S
        ) as wire:
            for resource_id in targets:
                body = json.dumps(
                    {"resource_id": resource_id, "referral_id": f"res-{uuid.uuid4()}"}
                )
                try:
                    reply = await wire.post("/capacity/reserve", body.encode())
                except WireError:
                    counts["errors"] += 1
                    continue
                if reply.status == 200:
                    counts["reserved"] += 1
                elif reply.status == 409:
                    counts["refused"] += 1
                else:
                    counts["errors"] += 1

    start = now()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    seconds = now() - start
    over, mismatched = overbooking(database_url, ids)
    return Reservations(
        clients, attempts, counts["reserved"], counts["refused"], counts["errors"], seconds,
        over, mismatched,
    )  # fmt: skip


async def open_households(
    client: httpx.AsyncClient, needs_url: str, places: list[RankRequest], *, label: str
) -> list[str]:
    """One household file at each place, opened through the needs service; their ids."""
    ids = []
    for i, place in enumerate(places):
        body = {
            "address": f"{label}{i:04d}号",
            "adcode": place.adcode,
            "location": {"lat": place.lat, "lon": place.lon},
        }
        response = await client.post(f"{needs_url}/households", json=body)
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids


@dataclass(frozen=True)
class EndToEnd:
    """Create a need, then ask for its matches: latency of the pair and pairs per second."""

    concurrency: int
    latency: Summary
    per_s: float
    errors: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "latency": self.latency.as_dict(),
            "needs_matched_per_s": round(self.per_s, 1),
            "errors": self.errors,
        }


async def measure_end_to_end(
    *, needs_url: str, needs: list[RankRequest], households: int, concurrency: int, token: str
) -> EndToEnd:
    """Open `households` files at the needs' places, then record one need per request and ask
    for its matches, `concurrency` at a time, through the needs service's HTTP API."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        timeout=HTTP_TIMEOUT_S, limits=limits, headers=bearer(token)
    ) as client:
        ids = await open_households(client, needs_url, needs[:households], label="基准户")
        work = iter(range(len(needs)))
        timings: list[float] = []
        errors = 0

        async def one_client() -> None:
            nonlocal errors
            for i in work:
                need = needs[i]
                body = {"household_id": ids[i % len(ids)], "category": need.category}
                start = now()
                try:
                    created = await client.post(f"{needs_url}/needs", json=body)
                    created.raise_for_status()
                    matched = await client.post(f"{needs_url}/needs/{created.json()['id']}/matches")
                    matched.raise_for_status()
                except httpx.HTTPError:
                    errors += 1
                    continue
                timings.append(now() - start)

        began = now()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        elapsed = now() - began
    return EndToEnd(concurrency, summarize(timings), len(timings) / elapsed, errors)


LOOP_STEPS = ("need", "matches", "refer", "accept", "start", "complete")
"""The HTTP calls of one referral loop, in order, each timed on its own."""


@dataclass(frozen=True)
class Loops:
    """Full referral loops through the needs service's HTTP API, and where their time went."""

    concurrency: int
    loops: int
    seconds: float
    latency: Summary
    steps: dict[str, Summary]
    errors: dict[str, int]
    top_match_share: float
    cpu_ms_per_loop: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        total = sum(step.mean_ms for step in self.steps.values()) or 1.0
        return {
            "concurrency": self.concurrency,
            "loops": self.loops,
            "seconds": round(self.seconds, 2),
            "loops_per_s": round(self.loops / self.seconds, 2) if self.seconds else 0.0,
            "latency": self.latency.as_dict(),
            "steps": {
                name: {**step.as_dict(), "share_of_time": round(step.mean_ms / total, 3)}
                for name, step in self.steps.items()
            },
            "errors": self.errors,
            "referred_to_top_match": round(self.top_match_share, 3),
            "cpu_ms_per_loop": self.cpu_ms_per_loop,
        }


async def register_loop_resources(
    client: httpx.AsyncClient, resources_url: str, places: list[RankRequest]
) -> list[dict[str, Any]]:
    """One resource with room for every loop at each need's place, offering its category."""
    return await create_resources(client, resources_url, places, total=100_000)


async def measure_loops(
    *,
    needs_url: str,
    resources_url: str,
    places: list[RankRequest],
    loops: int,
    concurrency: int,
    token: str,
    pids: dict[str, int],
) -> Loops:
    """`loops` full loops, `concurrency` at a time: record a need at a place where a resource
    registered through the resources service offers its category, ask for its matches, refer
    it (to the top match, or to that resource with a reason when the top match is one the
    resources service does not hold), accept (capacity reserved over NATS), start, complete
    (capacity consumed, need closed). Each step is timed, and the CPU each process in `pids`
    (and this client) spent is counted per loop: where the time goes."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        timeout=HTTP_TIMEOUT_S, limits=limits, headers=bearer(token)
    ) as client:
        registered = await register_loop_resources(client, resources_url, places)
        households = await open_households(client, needs_url, places, label="闭环户")
        steps: dict[str, list[float]] = {name: [] for name in LOOP_STEPS}
        timings: list[float] = []
        errors: dict[str, int] = {}
        top = 0
        work = iter(range(loops))

        async def step(name: str, path: str, body: dict[str, Any] | None = None) -> Any:
            started = now()
            response = await client.post(f"{needs_url}{path}", json=body)
            if response.status_code >= 300:
                errors[f"{name} {response.status_code}"] = (
                    errors.get(f"{name} {response.status_code}", 0) + 1
                )
                raise LookupError(name)
            steps[name].append(now() - started)
            return response.json()

        async def one_loop(i: int) -> None:
            nonlocal top
            at = i % len(places)
            resource = registered[at]
            started = now()
            need = await step(
                "need", "/needs",
                {"household_id": households[at], "category": places[at].category},
            )  # fmt: skip
            matches = await step("matches", f"/needs/{need['id']}/matches")
            results = matches.get("results") or []
            chosen = resource["id"]
            if results and results[0]["resource_id"] == chosen:
                top += 1
            referral = await step(
                "refer", "/referrals",
                {"need_id": need["id"], "resource_id": chosen, "override_reason": "基准闭环",
                 "resource_kind": resource["kind"], "resource_name": resource["name"]},
            )  # fmt: skip
            if referral["state"] != "sent":  # a policy asked for review first: not this loop
                errors[f"refer: {referral['state']}"] = (
                    errors.get(f"refer: {referral['state']}", 0) + 1
                )
                return
            await step("accept", f"/referrals/{referral['id']}/accept")
            await step("start", f"/referrals/{referral['id']}/start")
            await step(
                "complete", f"/referrals/{referral['id']}/complete",
                {"result": "met", "satisfaction": 5},
            )  # fmt: skip
            timings.append(now() - started)

        async def one_client() -> None:
            for i in work:
                try:
                    await one_loop(i)
                except (LookupError, httpx.HTTPError):
                    continue

        pids = {**pids, "bench client": os.getpid()}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        began = now()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        elapsed = now() - began
        cpu = {
            name: round((cpu_seconds(pid) - before[name]) * 1000 / max(len(timings), 1), 2)
            for name, pid in pids.items()
        }
    return Loops(
        concurrency, len(timings), elapsed, summarize(timings),
        {name: summarize(values) for name, values in steps.items() if values}, errors,
        top / max(len(timings), 1), cpu,
    )  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (of this machine) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

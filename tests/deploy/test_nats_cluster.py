"""The system on a real NATS cluster without Docker: three nats-server processes on loopback
run from the generated deployment configuration, R3 streams, the services and two matcher
replicas. Under a steady load of registrations and rank requests one NATS node and one matcher
replica are killed and brought back: no event is lost or stored twice, every rank request is
answered (retries allowed), and the node rejoins and catches up."""

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from cli.stack import Stack, StackConfig, free_port
from shared.contracts.needs import NEED_OPENED
from shared.contracts.streams import NEEDS_STREAM, RESOURCES_STREAM
from tests.auth import bearer
from tests.conftest import KEYS_DIR, LogCapture
from tests.deploy.cluster import Cluster
from tests.referrals.test_loop import new_need, new_resource, ok

pytestmark = pytest.mark.integration

RANK_ATTEMPTS = 20


class ClusterStack(Stack):
    """The services of `Stack`, connected to every node of `cluster` as its users."""

    def __init__(self, config: StackConfig, cluster: Cluster, sink: LogCapture) -> None:
        super().__init__(config, sink)
        self.cluster = cluster
        self.passwords = {user: cluster.password(user) for user in self.passwords}

    @property
    def nats_plain_url(self) -> str:
        return self.cluster.url


@pytest.fixture
def system(tmp_path: Path) -> Iterator[ClusterStack]:
    cluster = Cluster.make(tmp_path / "cluster")
    config = StackConfig(
        var_dir=tmp_path,
        ports={"needs": free_port(), "resources": free_port(), "matcher": free_port()},
        env={"LIANJIE_JETSTREAM_REPLICAS": "3", "LIANJIE_NATS_REQUEST_TIMEOUT_S": "1.5"},
        keys_dir=KEYS_DIR,
    )
    stack = ClusterStack(config, cluster, LogCapture(tmp_path / "stack.log"))
    try:
        cluster.start_all()
        asyncio.run(cluster.provision(replicas=3))
        for service in ("needs", "resources", "matcher"):
            stack.start_service(service)
        stack.config.ports["matcher-2"] = free_port()
        stack.start_service("matcher", name="matcher-2", port=stack.config.ports["matcher-2"])
        stack.wait_ready(timeout=90)
        yield stack
    finally:
        stack.stop()
        cluster.stop_all()


class Load(threading.Thread):
    """Registers resources and needs, and asks for matches, until told to stop."""

    def __init__(self, stack: Stack, need_id: str) -> None:
        super().__init__(daemon=True)
        self.stack, self.need_id = stack, need_id
        self.done = threading.Event()
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []

    def run(self) -> None:
        where = {"lat": 28.9, "lon": 104.9}
        with httpx.Client(timeout=15, headers=bearer()) as client:
            while not self.done.is_set():
                try:
                    new_resource(client, self.stack, where, total=5)
                    self.counts["resources"] += 1
                    new_need(client, self.stack, where)
                    self.counts["needs"] += 1
                    self.rank(client)
                except Exception as exc:  # counted: the test fails on any
                    self.failures.append(f"{type(exc).__name__}: {exc}")

    def rank(self, client: httpx.Client) -> None:
        url = f"{self.stack.url('needs')}/needs/{self.need_id}/matches"
        for _ in range(RANK_ATTEMPTS):
            response = client.post(url, json={})
            if response.status_code == 200:
                self.counts["ranked"] += 1
                return
            assert response.status_code == 503, response.text
            self.counts["rank_retries"] += 1
            time.sleep(0.2)
        raise AssertionError("a rank request was never answered")


async def _stream_counts(cluster: Cluster) -> tuple[int, int, int]:
    """Resources in the stream, need-opened events, and the needs stream's replica count."""
    nc = await nats.connect(
        cluster.url.split(","), user="admin", password=cluster.password("admin")
    )
    try:
        js = nc.jetstream()
        resources = await js.stream_info(RESOURCES_STREAM.name)
        opened = await js.stream_info(NEEDS_STREAM.name, subjects_filter=NEED_OPENED)
        subjects = opened.state.subjects or {}
        return resources.state.messages, subjects.get(NEED_OPENED, 0), opened.config.num_replicas
    finally:
        await nc.close()


def _node_messages(http_port: int, stream: str) -> int:
    """How many messages of `stream` one node holds itself (its monitoring endpoint)."""
    jsz = httpx.get(f"http://127.0.0.1:{http_port}/jsz?streams=true", timeout=5).json()
    for account in jsz.get("account_details", []):
        for detail in account.get("stream_detail", []):
            if detail["name"] == stream:
                return int(detail["state"]["messages"])
    return -1


def test_a_nats_node_and_a_matcher_replica_die_and_come_back_under_load(
    system: ClusterStack,
) -> None:
    cluster = system.cluster
    with httpx.Client(timeout=15, headers=bearer()) as client:
        need_id = new_need(client, system, {"lat": 28.9, "lon": 104.9})
        ok(client.get(f"{system.url('needs')}/needs/{need_id}"))
    load = Load(system, need_id)
    load.start()
    time.sleep(3)
    victim = cluster.nodes[1]
    cluster.kill(victim)
    system.stop_process("matcher-2", kill=True)
    time.sleep(5)
    cluster.start(victim)
    system.start_service("matcher", name="matcher-2", port=system.config.ports["matcher-2"])
    time.sleep(5)
    load.done.set()
    load.join(timeout=60)
    assert not load.failures, load.failures[:5]
    assert load.counts["resources"] > 5 and load.counts["ranked"] == load.counts["resources"]

    # Each service's outbox sends its events after the answer: both streams are waited for.
    deadline = time.monotonic() + 30
    while True:
        resources, opened, replicas = asyncio.run(_stream_counts(cluster))
        caught_up = _node_messages(victim.http_port, RESOURCES_STREAM.name)
        all_sent = resources == load.counts["resources"] and opened >= load.counts["needs"] + 1
        if all_sent and caught_up == resources:
            break
        assert time.monotonic() < deadline, (resources, opened, caught_up, dict(load.counts))
        time.sleep(0.5)
    assert replicas == 3
    assert opened == load.counts["needs"] + 1, "each need's event stored exactly once"

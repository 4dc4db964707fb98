"""Three nats-server processes on loopback forming a JetStream cluster from the generated
deployment configuration (deploy/nats/nats.conf): only the ports and routes (command line) and
the store folder (in each node's copy) differ, so the users, permissions and JetStream settings
are those docker-compose and k8s run."""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import nats

from cli import deploy
from cli.stack import free_port, nats_server_binary
from shared.messaging import ensure_streams


@dataclass
class Node:
    name: str
    client_port: int
    cluster_port: int
    http_port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None


@dataclass
class Cluster:
    """A loopback NATS cluster; `secrets` is the folder `lianjie keys` wrote."""

    folder: Path
    secrets: Path
    nodes: list[Node] = field(default_factory=list)

    @classmethod
    def make(cls, folder: Path, size: int = 3) -> "Cluster":
        secrets = folder / "secrets"
        deploy.make_keys(secrets)
        cluster = cls(folder, secrets)
        for n in range(1, size + 1):
            node_dir = folder / f"nats-{n}"
            (node_dir / "secret").mkdir(parents=True)
            text = deploy.COMPOSE_NATS.read_text(encoding="utf-8")
            store = json.dumps(str(node_dir / "data"))
            (node_dir / "nats.conf").write_text(text.replace('"/data"', store, 1))
            shutil.copy(secrets / "nats_passwords.conf", node_dir / deploy.PASSWORDS_INCLUDE)
            cluster.nodes.append(Node(f"nats-{n}", free_port(), free_port(), free_port(), node_dir))
        return cluster

    @property
    def url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{n.client_port}" for n in self.nodes)

    def password(self, user: str) -> str:
        return (self.secrets / f"nats_password_{user}").read_text().strip()

    def start(self, node: Node) -> None:
        routes = ",".join(f"nats://127.0.0.1:{n.cluster_port}" for n in self.nodes)
        command = [nats_server_binary(), "-c", str(node.folder / "nats.conf")]
        command += ["-p", str(node.client_port), "-m", str(node.http_port)]
        command += ["--cluster", f"nats://127.0.0.1:{node.cluster_port}", "--routes", routes]
        log = (node.folder / "server.log").open("ab")
        node.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NATS_SERVER_NAME": node.name},
            start_new_session=True,
        )

    def start_all(self, timeout_s: float = 30.0) -> None:
        for node in self.nodes:
            self.start(node)
        asyncio.run(self.wait_for_jetstream(timeout_s))

    def kill(self, node: Node) -> None:
        if node.process is not None and node.process.poll() is None:
            os.killpg(node.process.pid, signal.SIGKILL)
            node.process.wait(timeout=10)
        node.process = None

    def stop_all(self) -> None:
        for node in self.nodes:
            self.kill(node)

    async def provision(self, replicas: int) -> None:
        """Create the streams with `replicas` copies, as admin (what `lianjie deploy streams`
        does in compose and k8s): services only wait for them."""
        nc = await nats.connect(self.url.split(","), user="admin", password=self.password("admin"))
        try:
            await ensure_streams(nc.jetstream(), replicas=replicas)
        finally:
            await nc.close()

    async def replicas_of(self, stream: str) -> int:
        """How many copies of `stream` the cluster keeps."""
        nc = await nats.connect(self.url.split(","), user="admin", password=self.password("admin"))
        try:
            return (await nc.jetstream().stream_info(stream)).config.num_replicas or 1
        finally:
            await nc.close()

    async def wait_for_jetstream(self, timeout_s: float) -> None:
        """Until the admin user can ask JetStream for its account info (a meta leader)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                nc = await nats.connect(
                    self.url.split(","),
                    user="admin",
                    password=self.password("admin"),
                    connect_timeout=1,
                    max_reconnect_attempts=1,
                )
                try:
                    await nc.jetstream().account_info()
                    return
                finally:
                    await nc.close()
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

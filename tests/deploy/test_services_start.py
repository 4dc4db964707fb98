"""Each service starts with exactly the environment and secret files that docker-compose.yml,
or the k8s province overlay, gives it (nothing inherited from the test run), against a NATS
cluster run from the generated configuration, and reports ready."""

import asyncio
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

from cli import deploy, kustomize
from cli.stack import READY_WITHIN_S, free_port
from shared.contracts.streams import NEEDS_STREAM
from tests.conftest import BACKENDS, Databases
from tests.deploy.cluster import Cluster
from tests.fuzz.test_hostile_input import MALFORMED, exchange

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
        # What compose's and k8s' `streams` step does first: services only wait for streams.
        asyncio.run(running.provision(replicas=3))
        yield running
    finally:
        running.stop_all()


def compose_environment(name: str, cluster: Cluster, secrets: Path) -> tuple[dict[str, str], str]:
    """The compose service's environment and command argument; its secrets copied into
    `secrets` from what `lianjie keys` wrote."""
    service = compose()["services"][name]
    for secret in service.get("secrets", []):
        source = secret if isinstance(secret, str) else secret["source"]
        file = Path(compose()["secrets"][source]["file"]).name
        (secrets / source).write_text((cluster.secrets / file).read_text())
    return {**IMAGE_ENV, **service["environment"]}, service.get("command", [""])[0]


def k8s_environment(name: str, cluster: Cluster, secrets: Path) -> tuple[dict[str, str], str]:
    """The province Deployment's environment (its ConfigMap and env) and argument; the Secrets
    it mounts made as `lianjie deploy k8s-secrets` says, under `secrets`."""
    objects = kustomize.render(ROOT / "deploy" / "k8s" / "overlays" / "province")
    config = next(o for o in objects if o["metadata"]["name"] == "lianjie-config")
    deployment = next(
        o for o in objects if o["kind"] in ("Deployment", "Job") and o["metadata"]["name"] == name
    )
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    for volume in pod["volumes"]:
        if "secret" in volume:
            folder = secrets / volume["secret"]["secretName"]
            folder.mkdir()
            for key, file in deploy.K8S_SECRETS[volume["secret"]["secretName"]].items():
                (folder / key).write_text((cluster.secrets / file).read_text())
    env = {**IMAGE_ENV, **config["data"], **{e["name"]: e["value"] for e in container["env"]}}
    return env, container.get("args", [""])[0]


SOURCES = {"compose": compose_environment, "k8s": k8s_environment}


def service_environment(
    source: str, name: str, cluster: Cluster, folder: Path, database_url: str | None
) -> tuple[dict[str, str], str]:
    """The container's environment and argument, with paths and hosts mapped to this machine:
    secrets to files `lianjie keys` wrote, NATS to the loopback cluster, the database to the
    test's, the var dir to a folder."""
    secrets = folder / "secrets"
    secrets.mkdir()
    given, argument = SOURCES[source](name, cluster, secrets)
    env = {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin", "HOME": str(folder)}
    for key, value in given.items():
        value = str(value).replace(SECRETS, f"{secrets}/")
        if key == "LIANJIE_NATS_URL":
            value = cluster.url
        if key.endswith("_DATABASE_URL_FILE"):
            assert database_url is not None
            Path(value).write_text(database_url)  # the test's database, not the manifest's host
        env[key] = value
    env["LIANJIE_VAR_DIR"] = str(folder / "var")
    return env, argument


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["needs", "resources", "matcher"])
@pytest.mark.parametrize("source", list(SOURCES))
def test_each_service_starts_with_what_the_manifests_give_it(
    source: str, name: str, backend: str, cluster: Cluster, tmp_path: Path, databases: Databases
) -> None:
    if backend != BACKENDS[0] and name == "matcher":
        pytest.skip("the matcher has no database")
    url = databases.url(backend, name) if name != "matcher" else None
    env, argument = service_environment(source, name, cluster, tmp_path, url)
    assert not any(k.startswith("LIANJIE_PII_") and not k.endswith("_FILE") for k in env)
    port = free_port()
    command = [sys.executable, "-m", "cli.main", "serve", argument]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log = (tmp_path / "service.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + READY_WITHIN_S
        while True:
            assert process.poll() is None, (tmp_path / "service.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "service.log").read_text()[-3000:]
            time.sleep(0.2)
        # served as `lianjie up` serves it (shared/http_server.py): h11's refusals kept
        status, fields, _body, _closed = exchange(
            f"http://127.0.0.1:{port}", MALFORMED["no Host"][0]
        )
        assert (status, fields.get("content-type")) == (400, "application/problem+json")
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.parametrize("source", list(SOURCES))
def test_the_provisioning_step_creates_the_streams_with_three_replicas(
    source: str, cluster: Cluster, tmp_path: Path
) -> None:
    env, _ = service_environment(source, "streams", cluster, tmp_path, None)
    command = [sys.executable, "-m", "cli.main", "deploy", "streams", "--attempts", "20"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "streams ready with 3 replica(s) each" in done.stdout
    assert asyncio.run(cluster.replicas_of(NEEDS_STREAM.name)) == 3

"""A service told to stop gets to finish: Kubernetes and docker-compose kill a container only
after its requests' grace period, its outbox's drain and its exit (shared/shutdown.py), with
the periods each manifest gives the service (LIANJIE_SHUTDOWN_GRACE_S, LIANJIE_OUTBOX_DRAIN_S)
or their defaults. Killed sooner, a stopping service cuts off the requests it was finishing
and leaves its events for its next start."""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli import kustomize
from cli.serve import server_options
from shared.settings import CommonSettings
from shared.shutdown import stop_within_s

ROOT = Path(__file__).parent.parent.parent
OVERLAYS = ROOT / "deploy" / "k8s" / "overlays"
SERVED = ("needs", "resources", "matcher", "console")  # what `lianjie serve` runs
K8S_DEFAULT_KILL_S = 30  # terminationGracePeriodSeconds when a pod does not say
COMPOSE_DEFAULT_KILL = "10s"  # stop_grace_period when a service does not say
GRACEFUL_SIGNALS = ("SIGTERM", "SIGINT")  # uvicorn finishes its requests on these
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|h|m|s)")
_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def compose_seconds(duration: str) -> float:
    """A compose duration ("40s", "1m30s") in seconds."""
    parts = _DURATION.findall(duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)


def kill_too_soon(kill_s: float, env: Mapping[str, str]) -> str | None:
    """Why a kill `kill_s` after SIGTERM cuts a service with environment `env` short, or None."""
    defaults = CommonSettings.model_fields
    grace = float(env.get("LIANJIE_SHUTDOWN_GRACE_S", defaults["shutdown_grace_s"].default))
    drain = float(env.get("LIANJIE_OUTBOX_DRAIN_S", defaults["outbox_drain_s"].default))
    needed = stop_within_s(grace, drain)
    if kill_s >= needed:
        return None
    return f"killed after {kill_s:g} s; grace {grace:g} s + drain {drain:g} s + exit: {needed:g} s"


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def served_deployments(objects: list[dict[str, Any]]) -> dict[str, tuple[float, dict[str, str]]]:
    """Each Deployment that runs `lianjie serve`: its kill time and the environment its
    container gets (its ConfigMaps, then its own values)."""
    config_maps = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}
    found = {}
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        if container.get("args", [""])[0] not in SERVED:
            continue
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            env.update(config_maps[source["configMapRef"]["name"]])
        env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
        kill = pod.get("terminationGracePeriodSeconds", K8S_DEFAULT_KILL_S)
        # The preStop pause counts within terminationGracePeriodSeconds: SIGTERM comes after it.
        found[deployment["metadata"]["name"]] = (float(kill) - pre_stop_s(container), env)
    return found


def pre_stop_s(container: dict[str, Any]) -> float:
    """How long the container's preStop hook pauses (`sleep N`, or Kubernetes' own sleep)."""
    hook = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in hook:
        return float(hook["sleep"]["seconds"])
    command = hook.get("exec", {}).get("command", [])
    return float(command[1]) if command[:1] == ["sleep"] else 0.0


@pytest.mark.parametrize("overlay", ["county", "province"])
def test_kubernetes_waits_for_the_grace_the_drain_and_the_exit(overlay: str) -> None:
    deployments = served_deployments(kustomize.render(OVERLAYS / overlay))
    assert set(deployments) == set(SERVED)
    problems = {name: kill_too_soon(kill, env) for name, (kill, env) in deployments.items()}
    assert not any(problems.values()), problems


@pytest.mark.parametrize("overlay", ["county", "province"])
def test_kubernetes_stops_routing_to_a_pod_before_it_stops_listening(overlay: str) -> None:
    """SIGTERM closes uvicorn's listener at once, while the Service's endpoints and the ingress
    take a few seconds to drop a terminating pod: connections sent in between are refused (a
    502 at the ingress in every rolling update) unless a preStop pause comes first."""
    objects = kustomize.render(OVERLAYS / overlay)
    pauses = {
        d["metadata"]["name"]: pre_stop_s(d["spec"]["template"]["spec"]["containers"][0])
        for d in objects
        if d["kind"] == "Deployment"
        and d["spec"]["template"]["spec"]["containers"][0].get("args", [""])[0] in SERVED
    }
    assert set(pauses) == set(SERVED)
    assert all(seconds >= 3 for seconds in pauses.values()), pauses


def test_compose_waits_for_the_grace_the_drain_and_the_exit() -> None:
    services = compose()["services"]
    served = {n: s for n, s in services.items() if s.get("command", [""])[0] in SERVED}
    assert set(served) == set(SERVED)
    problems = {
        name: kill_too_soon(
            compose_seconds(service.get("stop_grace_period", COMPOSE_DEFAULT_KILL)),
            {k: str(v) for k, v in service.get("environment", {}).items()},
        )
        for name, service in served.items()
    }
    assert not any(problems.values()), problems


def test_the_container_is_stopped_by_a_signal_uvicorn_finishes_its_requests_on() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stop_signals = re.findall(r"^STOPSIGNAL\s+(\S+)", dockerfile, re.MULTILINE)
    assert stop_signals[-1:] in ([], ["SIGTERM"], ["SIGINT"]), stop_signals
    for name, service in compose()["services"].items():
        assert service.get("stop_signal", "SIGTERM") in GRACEFUL_SIGNALS, name


def test_the_check_refuses_a_kill_before_the_drain_ends() -> None:
    assert kill_too_soon(15, {})  # the manifests' kill time before this check
    assert kill_too_soon(compose_seconds(COMPOSE_DEFAULT_KILL), {})
    assert kill_too_soon(40, {"LIANJIE_OUTBOX_DRAIN_S": "60"})
    assert kill_too_soon(40, {"LIANJIE_SHUTDOWN_GRACE_S": "120"})
    assert kill_too_soon(40, {}) is None
    assert compose_seconds("1m30s") == 90


def test_lianjie_serve_gives_the_requests_the_configured_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIANJIE_SHUTDOWN_GRACE_S", "7")
    assert server_options("needs", "127.0.0.1", 8000)["timeout_graceful_shutdown"] == 7
    monkeypatch.delenv("LIANJIE_SHUTDOWN_GRACE_S")
    default = CommonSettings.model_fields["shutdown_grace_s"].default
    assert server_options("needs", "127.0.0.1", 8000)["timeout_graceful_shutdown"] == default

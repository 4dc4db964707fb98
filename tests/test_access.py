"""Every route of every service, called with every role: who gets in is exactly what the
access policy (and so docs/access.md) says; no token or a bad one is 401, never a 500."""

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cli.access_doc import DOC, POLICIES, render
from services.matcher.app import create_app as matcher_app
from services.matcher.settings import MatcherSettings
from services.needs.app import MIGRATIONS as NEEDS_MIGRATIONS
from services.needs.app import create_app as needs_app
from services.needs.settings import NeedsSettings
from services.resources.app import MIGRATIONS as RESOURCES_MIGRATIONS
from services.resources.app import create_app as resources_app
from services.resources.settings import ResourcesSettings
from shared.access import Policy, routes_of
from shared.auth import Role
from shared.contracts.vocabulary import ALL
from shared.db import create_db_engine, migrate
from shared.settings import CommonSettings
from tests.auth import JIANGAN_TOWN, bearer, token

OPEN_PATHS = {"/healthz", "/readyz", "/metrics"}
NOWHERE = CommonSettings(nats_url="nats://127.0.0.1:9")  # no test here needs NATS


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, TestClient]]:
    """The three apps in-process on fresh SQLite databases (lifespans not started)."""
    folder = tmp_path_factory.mktemp("access")
    urls = {name: f"sqlite:///{folder / f'{name}.db'}" for name in ("needs", "resources")}
    for name, migrations in (("needs", NEEDS_MIGRATIONS), ("resources", RESOURCES_MIGRATIONS)):
        engine = create_db_engine(urls[name])
        migrate(engine, migrations)
        engine.dispose()
    built: dict[str, FastAPI] = {
        "needs": needs_app(NeedsSettings(database_url=urls["needs"], common=NOWHERE)),
        "resources": resources_app(
            ResourcesSettings(database_url=urls["resources"], common=NOWHERE)
        ),
        "matcher": matcher_app(
            MatcherSettings(common=CommonSettings(nats_url=NOWHERE.nats_url, var_dir=folder))
        ),
    }
    yield {name: TestClient(app, raise_server_exceptions=False) for name, app in built.items()}
    for name in ("needs", "resources"):
        built[name].state.sessions.kw["bind"].dispose()


def _concrete(path: str) -> str:
    path = path.replace("{operation}", "reserve")
    return re.sub(r"\{[^}]+\}", "no-such-id", path)


def _scope(role: Role) -> dict[str, str]:
    return {
        Role.SOCIAL_WORKER: {"adcode": JIANGAN_TOWN},
        Role.STATION_LEAD: {"adcode": JIANGAN_TOWN},
        Role.COUNTY_HUB: {"adcode": JIANGAN_TOWN[:6]},
        Role.COORDINATOR: {"organization": "江安县爱心餐饮有限公司"},
        Role.ALLIANCE_REVIEWER: {"department": "civil_affairs", "adcode": JIANGAN_TOWN[:6]},
        Role.ADMIN: {},
    }[role]


CASES = [(policy, method, path) for policy in POLICIES for (method, path) in policy.rules]


def test_the_access_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "run: python -m cli.access_doc"


@pytest.mark.parametrize("service", ["needs", "resources", "matcher"])
def test_every_route_has_a_rule_and_every_rule_a_route(
    apps: dict[str, TestClient], service: str
) -> None:
    policy = next(p for p in POLICIES if p.service == service)
    app: FastAPI = apps[service].app  # type: ignore[assignment]
    vocabularies = {("GET", f"/{name}") for name in ALL}  # public code lists, on every service
    declared = set(policy.rules) | {("GET", p) for p in OPEN_PATHS} | vocabularies
    assert set(routes_of(app.routes)) == declared


@pytest.mark.parametrize(
    ("policy", "method", "path"), CASES, ids=[f"{p.service}:{m} {x}" for p, m, x in CASES]
)
def test_every_role_gets_exactly_what_the_policy_says(
    apps: dict[str, TestClient], policy: Policy, method: str, path: str
) -> None:
    client = apps[policy.service]
    rule = policy.rules[(method, path)]
    url = _concrete(path)
    for role in Role:
        response = client.request(method, url, headers=bearer(role, **_scope(role)))
        assert response.status_code < 500, (role, response.status_code, response.text)
        if rule.public or role in rule.roles:
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.status_code, response.text)
            assert role.value in response.json()["detail"]
    anonymous = client.request(method, url)
    if rule.public:
        assert anonymous.status_code != 401
    else:
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("service", ["needs", "resources", "matcher"])
def test_health_and_metrics_need_no_token(apps: dict[str, TestClient], service: str) -> None:
    assert apps[service].get("/healthz").status_code == 200
    assert apps[service].get("/metrics").status_code == 200


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (f"Bearer {token(Role.ADMIN, ttl=timedelta(seconds=-5))}", "expired"),
        (f"Bearer {token(Role.ADMIN)}x", "not valid"),
        ("Bearer not-a-token", "not valid"),
        ("Basic YWRtaW46YWRtaW4=", "Bearer"),
    ],
)
def test_expired_forged_or_malformed_tokens_are_401(
    apps: dict[str, TestClient], header: str, says: str
) -> None:
    response = apps["resources"].get("/resources", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="lianjie"'
    assert says in response.json()["detail"]


def test_a_token_signed_with_another_key_is_401(
    apps: dict[str, TestClient], tmp_path: Path
) -> None:
    from shared.auth import Principal, ensure_keypair, issue_token

    private, _public = ensure_keypair(tmp_path)
    forged = issue_token(
        principal=Principal(sub="mallory", role=Role.ADMIN),
        private_pem=private.read_bytes(),
        ttl=timedelta(minutes=5),
    )
    response = apps["needs"].get("/stats?station=51", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_a_service_without_a_public_key_refuses_to_start(tmp_path: Path) -> None:
    settings = CommonSettings(auth_public_key_file=None, var_dir=tmp_path)
    with pytest.raises(RuntimeError, match="LIANJIE_AUTH_PUBLIC_KEY_FILE"):
        matcher_app(MatcherSettings(common=settings))


def test_a_body_over_the_limit_is_413(apps: dict[str, TestClient]) -> None:
    response = apps["needs"].post(
        "/needs", content=b"x" * 1_100_000, headers={**bearer(), "content-type": "application/json"}
    )
    assert response.status_code == 413

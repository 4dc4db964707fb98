"""Fixtures of the needs tests: a migrated database and the needs app over it (no NATS needed
for these routes; the matches route is exercised against the whole stack)."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.needs.app import MIGRATIONS, create_app
from services.needs.settings import NeedsSettings
from shared.db import session_factory
from tests.auth import bearer
from tests.conftest import Databases
from tests.support.factories import household_body, person_body


@pytest.fixture
def sessions(engine: Engine, databases: Databases) -> sessionmaker[Session]:
    """Sessions over a freshly migrated needs database."""
    databases.migrated(engine, MIGRATIONS)
    return session_factory(engine)


@pytest.fixture
def make_client(
    engine: Engine, sessions: sessionmaker[Session]
) -> Iterator[Callable[..., TestClient]]:
    """Build the needs app over the test database, with settings overridden as given."""
    url = engine.url.render_as_string(hide_password=False)
    apps: list[Any] = []

    def make(**settings: Any) -> TestClient:
        app = create_app(NeedsSettings(database_url=url, **settings))
        apps.append(app)
        return TestClient(app, raise_server_exceptions=False, headers=bearer())

    yield make
    for app in apps:
        app.state.sessions.kw["bind"].dispose()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """The needs app with default settings; its lifespan (NATS, relay) is not started."""
    return make_client()


def new_household(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/households", json=household_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def new_person(client: TestClient, household_id: str, **overrides: Any) -> dict[str, Any]:
    response = client.post(f"/households/{household_id}/persons", json=person_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def active_case(client: TestClient, household_id: str, **overrides: Any) -> dict[str, Any]:
    """A person whose case is active: consent recorded, then activated."""
    person = new_person(
        client,
        household_id,
        consent={"given_on": "2026-01-05", "scope": ["case_file"], "recorded_by": "李社工"},
        **overrides,
    )
    response = client.post(f"/persons/{person['id']}/status", json={"status": "active"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def problems(response: Any) -> set[tuple[str, str]]:
    """(field, rule) of every error in a 422 problem+json."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {(e["field"], e["rule"]) for e in response.json()["errors"]}

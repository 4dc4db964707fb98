"""Fixtures of the personal-data tests: the needs and resources apps over fresh databases,
with callers of a chosen role."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from services.needs.app import MIGRATIONS as NEEDS_MIGRATIONS
from services.needs.app import create_app as create_needs_app
from services.needs.settings import NeedsSettings
from services.resources.app import MIGRATIONS as RESOURCES_MIGRATIONS
from services.resources.app import create_app as create_resources_app
from services.resources.settings import ResourcesSettings
from tests.auth import bearer
from tests.conftest import Databases

STATION = "511523101"  # 江安县江安镇


@pytest.fixture
def needs_as(engine: Engine, databases: Databases) -> Iterator[Callable[..., TestClient]]:
    """The needs app over a migrated database; `needs_as(role, **scope)` calls it as that role."""
    databases.migrated(engine, NEEDS_MIGRATIONS)
    app = create_needs_app(NeedsSettings(database_url=engine.url.render_as_string(False)))

    def client(role: str = "social_worker", **scope: Any) -> TestClient:
        scope.setdefault("adcode", STATION[:6])
        scope.setdefault("sub", f"{role}-1")
        return TestClient(app, raise_server_exceptions=False, headers=bearer(role, **scope))

    yield client
    app.state.sessions.kw["bind"].dispose()


@pytest.fixture
def resources_client(engine: Engine, databases: Databases) -> Iterator[TestClient]:
    """The resources app over a migrated database, called by an administrator."""
    databases.migrated(engine, RESOURCES_MIGRATIONS)
    app = create_resources_app(ResourcesSettings(database_url=engine.url.render_as_string(False)))
    yield TestClient(app, raise_server_exceptions=False, headers=bearer())
    app.state.sessions.kw["bind"].dispose()

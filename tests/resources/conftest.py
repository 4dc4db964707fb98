"""Fixtures of the resources service's tests: a migrated database and an app on it."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.resources.app import MIGRATIONS, create_app
from services.resources.settings import ResourcesSettings
from shared.db import create_db_engine, session_factory
from tests.auth import bearer
from tests.conftest import Databases


@pytest.fixture
def sessions(engine: Engine, databases: Databases) -> sessionmaker[Session]:
    """Sessions on a database migrated to the newest revision."""
    databases.migrated(engine, MIGRATIONS)
    return session_factory(engine)


@contextmanager
def app_client(engine: Engine) -> Iterator[TestClient]:
    """The resources app over HTTP on a migrated database, without NATS (the lifespan does
    not run: events stay in the outbox, which is what these tests inspect)."""
    url = engine.url.render_as_string(hide_password=False)
    app = create_app(ResourcesSettings(database_url=url))
    try:
        yield TestClient(app, raise_server_exceptions=False, headers=bearer())
    finally:
        app.state.sessions.kw["bind"].dispose()


@pytest.fixture
def client(engine: Engine, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """The resources app on the test database."""
    with app_client(engine) as test_client:
        yield test_client


@pytest.fixture
def other_client(engine: Engine, databases: Databases) -> Iterator[TestClient]:
    """The resources app on a second, empty database of the same backend."""
    other = create_db_engine(databases.url(engine.dialect.name, "other"))
    databases.migrated(other, MIGRATIONS)
    try:
        with app_client(other) as test_client:
            yield test_client
    finally:
        other.dispose()

"""The schema comes from Alembic migrations, and they match the models exactly."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, inspect

import services.needs.aid.models
import services.needs.discovery.models
import services.needs.procedures.models
import services.needs.referrals.models
import services.needs.users.models  # noqa: F401  (user tables join the metadata)
from services.needs.app import MIGRATIONS as NEEDS_MIGRATIONS
from services.needs.models import Base as NeedsBase
from services.resources.app import MIGRATIONS as RESOURCES_MIGRATIONS
from services.resources.models import Base as ResourcesBase
from shared.db import migrate

CASES = [("needs", NEEDS_MIGRATIONS, NeedsBase.metadata)]
CASES += [("resources", RESOURCES_MIGRATIONS, ResourcesBase.metadata)]


@pytest.mark.parametrize(("service", "migrations", "metadata"), CASES, ids=[c[0] for c in CASES])
def test_migrations_build_exactly_the_models_schema(
    engine: Engine, service: str, migrations: Path, metadata: MetaData
) -> None:
    migrate(engine, migrations)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"{service}: models and migrations differ: {diff}"
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())


def test_migrating_twice_is_a_no_op(engine: Engine) -> None:
    migrate(engine, RESOURCES_MIGRATIONS)
    migrate(engine, RESOURCES_MIGRATIONS)
    assert "resource" in inspect(engine).get_table_names()

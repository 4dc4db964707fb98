"""Alembic environment of the needs service."""

from services.needs.models import Base
from shared.db import run_migrations_online

run_migrations_online(Base.metadata)

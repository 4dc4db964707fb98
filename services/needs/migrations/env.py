"""Alembic environment of the needs service."""

import services.needs.referrals.models  # noqa: F401  (referral tables join the metadata)
from services.needs.models import Base
from shared.db import run_migrations_online

run_migrations_online(Base.metadata)

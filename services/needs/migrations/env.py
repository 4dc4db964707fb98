"""Alembic environment of the needs service."""

import services.needs.referrals.models  # referral tables join the metadata
import services.needs.users.models  # noqa: F401  (user tables join the metadata)
from services.needs.models import Base
from shared.db import run_migrations_online

run_migrations_online(Base.metadata)

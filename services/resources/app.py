"""The resources service's FastAPI app."""

import logging
from pathlib import Path

from fastapi import FastAPI

from services.resources.access import POLICY
from services.resources.api import router
from services.resources.capacity_batch import reservations
from services.resources.events import listeners
from services.resources.models import IdempotencyKey, OutboxEvent
from services.resources.settings import ResourcesSettings
from shared import crypto
from shared.web_db import DatabaseService

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def create_app(settings: ResourcesSettings | None = None) -> FastAPI:
    """Build the app; nothing connects until the lifespan starts. Refuses to build without
    the personal-data keys: contact names and phones are encrypted columns."""
    settings = settings or ResourcesSettings()
    crypto.configure(crypto.cipher_from_settings(settings.common))
    parts = DatabaseService.build(
        settings, record_type=OutboxEvent, idempotency_type=IdempotencyKey
    )
    batches = reservations(parts.sessions, max_size=settings.reserve_batch_max)
    app = parts.app(
        title="Lianjie resources",
        description="The county's resource library (资源库) and its capacity ledger.",
        migrations=MIGRATIONS,
        router=router,
        policy=POLICY,
        listeners=listeners(parts.sessions, batches),
    )
    app.state.reservations = batches
    return app

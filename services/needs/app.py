"""The needs service's FastAPI app."""

from pathlib import Path

from fastapi import FastAPI

from services.needs.access import POLICY
from services.needs.api import router
from services.needs.models import IdempotencyKey, OutboxEvent
from services.needs.settings import NeedsSettings
from shared import crypto
from shared.web import DatabaseService

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: NeedsSettings | None = None) -> FastAPI:
    """Build the app; nothing connects until the lifespan starts. Refuses to build without
    the personal-data keys: this service's tables hold encrypted columns."""
    settings = settings or NeedsSettings()
    crypto.configure(crypto.cipher_from_settings(settings.common))
    parts = DatabaseService.build(
        settings, record_type=OutboxEvent, idempotency_type=IdempotencyKey
    )
    return parts.app(
        title="Lianjie needs",
        description="Household files (一户一档), cases (一人一案), visits, needs, referrals.",
        migrations=MIGRATIONS,
        router=router,
        policy=POLICY,
    )

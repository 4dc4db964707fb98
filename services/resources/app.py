"""The resources service's FastAPI app."""

from pathlib import Path

from fastapi import FastAPI

from services.resources.api import router
from services.resources.events import serve_capacity
from services.resources.models import OutboxEvent
from services.resources.settings import ResourcesSettings
from shared.messaging import Bus
from shared.web import DatabaseService

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: ResourcesSettings | None = None) -> FastAPI:
    """Build the app; nothing connects until the lifespan starts."""
    parts = DatabaseService.build(settings or ResourcesSettings(), record_type=OutboxEvent)

    async def on_connected(bus: Bus) -> None:
        await serve_capacity(bus, parts.sessions)

    parts.bus.on_connected(on_connected)
    return parts.app(
        title="Lianjie resources",
        description="The county's resource library (资源库) and its capacity ledger.",
        migrations=MIGRATIONS,
        router=router,
    )

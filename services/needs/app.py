"""The needs service's FastAPI app."""

from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from services.needs.access import POLICY
from services.needs.api import router
from services.needs.models import IdempotencyKey, OutboxEvent
from services.needs.referrals import queries as referral_queries
from services.needs.referrals.events import listeners
from services.needs.settings import NeedsSettings
from shared import crypto
from shared.db import read_session
from shared.metrics import Metrics
from shared.web_db import DatabaseService

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: NeedsSettings | None = None) -> FastAPI:
    """Build the app; nothing connects until the lifespan starts. Refuses to build without
    the personal-data keys: this service's tables hold encrypted columns."""
    settings = settings or NeedsSettings()
    crypto.configure(crypto.cipher_from_settings(settings.common))
    parts = DatabaseService.build(
        settings, record_type=OutboxEvent, idempotency_type=IdempotencyKey
    )
    app = parts.app(
        title="Lianjie needs",
        description="Household files (一户一档), cases (一人一案), visits, needs, referrals.",
        migrations=MIGRATIONS,
        router=router,
        policy=POLICY,
        listeners=listeners(parts.sessions),
    )
    _business_metrics(app.state.metrics, parts.sessions)
    return app


def _business_metrics(metrics: Metrics, sessions: sessionmaker[Session]) -> None:
    """Referrals by state and overdue ones, read from the database at scrape time."""

    def by_state() -> dict[str, float]:
        with read_session(sessions) as session:
            return dict(referral_queries.counts_by_state(session))

    def overdue() -> float:
        with read_session(sessions) as session:
            return referral_queries.overdue_count(session=session, now=datetime.now(UTC))

    metrics.gauges("lianjie_referrals", "Referrals by state", "state", by_state)
    metrics.gauge("lianjie_referrals_overdue", "Referrals waiting past their due time", overdue)

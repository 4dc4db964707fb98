"""The world of referral domain tests: a migrated needs database, needs in it, fixed times."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from services.needs import service as needs_service
from services.needs.app import MIGRATIONS, create_app
from services.needs.models import Need, OutboxEvent
from services.needs.referrals import review, service
from services.needs.referrals.schemas import ReferralCreate
from services.needs.schemas import HouseholdCreate, NeedCreate
from services.needs.settings import NeedsSettings
from shared.actor import Actor
from shared.contracts.common import GeoPoint
from shared.db import migrate, session_factory, transaction
from shared.settings import CommonSettings
from tests.auth import bearer

WORKER = Actor(id="sw-001", role="social_worker")
REVIEWER = Actor(id="rv-001", role="reviewer")
COORDINATOR = Actor(id="co-001", role="coordinator")
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PAGE_MAX = 20  # page_size_max of the in-process app
POLICY = review.ReviewPolicy(
    amount_threshold_yuan=5000,
    overdue_after=timedelta(hours=48),
    default_department="civil_affairs",
)
MEALS = service.Pick(
    resource_id="res-meals",
    name="江安镇爱心助餐点",
    kind="enterprise",
    rank=1,
    score=0.82,
    distance_km=1.1,
    explanation={"components": {"category": 1.0, "distance": 0.9}, "weights": {}},
)


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    migrate(engine, MIGRATIONS)
    yield session_factory(engine)


class Clock:
    """The app's clock, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def client(engine: Engine, sessions: sessionmaker[Session], clock: Clock) -> Iterator[TestClient]:
    """The needs app in-process on the test's database, its clock injected, signed in as admin."""
    settings = NeedsSettings(
        database_url=engine.url.render_as_string(hide_password=False),
        referral_overdue_hours=48,
        page_size_max=PAGE_MAX,
        # Nothing listens here: the bus keeps trying in the background and no test needs it.
        common=CommonSettings(nats_url="nats://127.0.0.1:9"),
    )
    app = create_app(settings)
    app.state.clock = clock
    with TestClient(app, headers=bearer()) as test_client:
        yield test_client


def new_need(
    sessions: sessionmaker[Session], category: str = "elderly_care.meals", adcode: str = "511523101"
) -> str:
    with transaction(sessions) as s:
        household = needs_service.create_household(
            session=s,
            data=HouseholdCreate(
                address="江安县江安镇红星村3组12号",
                adcode=adcode,
                location=GeoPoint(lat=28.74, lon=105.07),
            ),
        )
        need = needs_service.create_need(
            session=s,
            data=NeedCreate(household_id=household.id, category=category, description="需要助餐"),
        )
        return need.id


def refer(
    sessions: sessionmaker[Session],
    need_id: str,
    pick: service.Pick = MEALS,
    *,
    now: datetime = T0,
    **fields: object,
) -> str:
    data = ReferralCreate(need_id=need_id, resource_id=pick.resource_id, **fields)  # type: ignore[arg-type]
    with transaction(sessions) as s:
        referral = service.create(
            session=s, data=data, pick=pick, actor=WORKER, now=now, policy=POLICY
        )
        return referral.id


def state_of(sessions: sessionmaker[Session], referral_id: str) -> str:
    with sessions() as s:
        return service.get_or_raise(session=s, referral_id=referral_id).state


def need_status(sessions: sessionmaker[Session], need_id: str) -> str:
    with sessions() as s:
        return needs_service.get_need_or_raise(session=s, need_id=need_id).status


def events_of(sessions: sessionmaker[Session], aggregate_id: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    """(subject, payload) of every outbox event about one aggregate, in order."""
    with sessions() as s:
        rows = s.execute(
            select(OutboxEvent.subject, OutboxEvent.payload)
            .where(OutboxEvent.aggregate_id == aggregate_id)
            .order_by(OutboxEvent.id)
        )
        return [(subject, json.loads(payload)) for subject, payload in rows]


def need_row(sessions: sessionmaker[Session], need_id: str) -> Need:
    with sessions() as s:
        need = s.scalar(select(Need).where(Need.id == need_id))
        assert need is not None
        return need

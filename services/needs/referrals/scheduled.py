"""Referrals' timer: escalate referrals left waiting for review or acceptance past their due
time (`flows.escalate_forever`), on an interval."""

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from services.needs.referrals import flows
from services.needs.settings import NeedsSettings
from shared.clock import clock_of
from shared.timers import running


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run `flows.escalate_forever` while the app serves."""
    settings: NeedsSettings = app.state.settings
    work = flows.escalate_forever(
        sessions=app.state.sessions,
        interval_s=settings.referral_escalation_interval_s,
        clock=lambda: clock_of(app)(),
    )
    async with running(work, name="referral-escalation"):
        yield

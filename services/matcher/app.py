"""The matcher's FastAPI app: no database of record, an index rebuilt from the stream."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.matcher.api import router
from services.matcher.events import IndexFeed, serve_rank
from services.matcher.service import Ranker
from services.matcher.settings import MatcherSettings
from shared.messaging import Bus
from shared.web import new_app


def create_app(settings: MatcherSettings | None = None) -> FastAPI:
    settings = settings or MatcherSettings()
    bus = Bus(settings.common, name="matcher")
    ranker = Ranker(settings)
    feed = IndexFeed(ranker.index)

    async def on_connected(connected: Bus) -> None:
        await feed.start(connected)
        # Answer only once caught up: until then callers get "no responders", hence a 503.
        await feed.caught_up.wait()
        await serve_rank(connected, ranker)

    bus.on_connected(on_connected)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        yield
        await bus.close()

    def nats() -> str | None:
        return None if bus.connected and bus.ready.is_set() else "not connected"

    def index() -> str | None:
        return None if feed.caught_up.is_set() else "catching up with the resources stream"

    app = new_app(
        title="Lianjie matcher",
        description="Ranks suitable resources for a need, and explains why.",
        common=settings.common,
        lifespan=lifespan,
        checks={"nats": nats, "index": index},
    )
    app.state.ranker = ranker
    app.state.feed = feed
    app.state.bus = bus
    app.include_router(router)
    return app

"""The matcher's FastAPI app: no database of record, an index rebuilt from the stream."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.matcher.access import POLICY
from services.matcher.api import router
from services.matcher.events import (
    IndexFeed,
    OutcomeFeed,
    keep_snapshots,
    serve_rank,
    serve_reverse,
)
from services.matcher.service import Ranker
from services.matcher.settings import MatcherSettings
from shared.messaging import Bus
from shared.web import new_app, protect


def create_app(settings: MatcherSettings | None = None) -> FastAPI:
    settings = settings or MatcherSettings()
    bus = Bus(settings.common, name="matcher")
    ranker = Ranker(settings)
    feed = IndexFeed(ranker.index, load_snapshot=settings.snapshot_load)
    outcomes = OutcomeFeed()
    tasks: list[asyncio.Task[None]] = []

    async def on_connected(connected: Bus) -> None:
        await feed.start(connected)
        # Answer only once caught up: until then callers get "no responders", hence a 503.
        await feed.caught_up.wait()
        await serve_rank(connected, ranker, latency=rank_latency)
        await serve_reverse(connected, ranker)
        await outcomes.start(connected)
        if settings.snapshot_interval_s > 0 and not tasks:
            writer = keep_snapshots(
                feed,
                connected.js,
                interval_s=settings.snapshot_interval_s,
                min_changes=settings.snapshot_min_changes,
            )
            tasks.append(asyncio.create_task(writer, name="matcher-snapshots"))

    bus.on_connected(on_connected)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        yield
        for task in tasks:
            task.cancel()
        await outcomes.stop()
        await bus.close()

    def index() -> str | None:
        return None if feed.caught_up.is_set() else "catching up with the resources stream"

    app = new_app(
        title="Lianjie matcher",
        description="Ranks suitable resources for a need, and explains why.",
        common=settings.common,
        lifespan=lifespan,
        checks={"nats": bus.answering, "index": index},
        bus=bus,
    )
    metrics = app.state.metrics
    rank_latency = metrics.histogram(
        "lianjie_matcher_rank_seconds", "Time to rank one request (NATS lianjie.matcher.rank.v1)"
    )
    metrics.gauge(
        "lianjie_matcher_index_lag",
        "Resource events not yet applied by the index feed (its consumer's pending count)",
        lambda: feed.lag,
    )
    metrics.gauge(
        "lianjie_matcher_text_backlog",
        "Replayed resources whose texts are not counted in yet (counted after ready, in steps)",
        lambda: ranker.index.text_backlog(),
    )
    metrics.gauge(
        "lianjie_matcher_index_restored_from",
        "Resources stream sequence of the index snapshot this replica started from (0: none)",
        lambda: feed.restored_from,
    )
    metrics.gauge(
        "lianjie_matcher_index_skipped", "Malformed resource events skipped", lambda: feed.skipped
    )
    metrics.gauge(
        "lianjie_matcher_outcomes_lag",
        "Referral events not yet handled by the outcome consumer",
        lambda: outcomes.consumer.stats.lag,
    )
    metrics.gauge(
        "lianjie_matcher_outcomes_labelled",
        "Referrals this replica saw end with a labelled outcome (sum over replicas)",
        lambda: sum(outcomes.outcomes.values()),
    )
    metrics.gauge(
        "lianjie_matcher_dead_letters",
        "Messages this replica gave up on: skipped, or reported to the dead letter",
        lambda: outcomes.consumer.stats.dead_lettered + feed.skipped,
    )
    app.state.ranker = ranker
    app.state.feed = feed
    app.state.outcomes = outcomes
    app.state.bus = bus
    protect(app, routers=[router], policy=POLICY, common=settings.common)
    return app

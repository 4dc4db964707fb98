"""Every stream a service consumes is read on its feed connection (`Bus.feed_js`), never on
the one that answers requests: nats-server keeps each ack subject it delivers to a connection
whose user may answer requests for two minutes, and scans them about once a second while it
holds that connection. A burst on the answering connection (an import of 120,000 resources
announced to a durable consumer) would stall every request to the service the same way the
matcher's replay did (issue 21)."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli.stack import free_port
from shared.consumers import Listeners
from shared.contracts.needs import ReferralEvent, referral_subject
from shared.contracts.tokens import TokensRevoked, tokens_subject, user_key
from shared.messaging import Bus
from shared.revocation import TokenRevocations
from shared.settings import CommonSettings
from tests.matcher.conftest import running_nats
from tests.support.factories import referral_consumer, referral_event
from tests.support.waiting import once_nats_is_back, until

EVENTS = 200
REVOKED = 50


@pytest.mark.integration
async def test_durable_consumers_and_revocations_read_apart_from_the_answering_connection(
    tmp_path: Path,
) -> None:
    handled: list[str] = []

    async def handle(event: ReferralEvent) -> None:
        handled.append(event.referral_id)

    with running_nats(tmp_path / "nats") as url:
        bus = Bus(CommonSettings(nats_url=url), name="feed-test")
        await bus.start()
        await asyncio.wait_for(bus.ready.wait(), timeout=10)
        consumer = referral_consumer("test_feed", handle)
        listeners, revocations = Listeners(consumers=[consumer]), TokenRevocations()
        try:
            for i in range(EVENTS):
                event = referral_event(f"r-{i}", 1, "sent")
                await bus.js.publish(referral_subject("sent"), event.model_dump_json().encode())
            for i in range(REVOKED):
                revoked = TokensRevoked(
                    user_key=user_key(f"user{i}"), min_version=2, at=datetime.now(UTC)
                )
                await bus.js.publish(tokens_subject(f"user{i}"), revoked.model_dump_json().encode())
            assert bus.nc is not None
            answering_before = bus.nc.stats["in_msgs"]
            await listeners.start(bus)
            await revocations.start(bus)
            await until(
                lambda: len(handled) == EVENTS and len(revocations.min_versions) == REVOKED,
                timeout=15,
                what="every event and revocation",
            )
            assert bus.feed_nc is not None and bus.feed_nc is not bus.nc
            assert bus.feed_nc.stats["in_msgs"] >= EVENTS + REVOKED
            assert bus.nc.stats["in_msgs"] - answering_before < 10  # a stream look-up or two
        finally:
            await listeners.stop()
            await bus.close()


@pytest.mark.integration
async def test_a_revocation_published_after_nats_restarts_is_heard_within_seconds(
    tmp_path: Path,
) -> None:
    """Revocations are followed by an ordered consumer, which a restarted nats-server no longer
    has: nats-py makes it anew after missed heartbeats, and at its default (5 s) a token revoked
    just after the restart stayed good for about 19 s (`FOLLOW_HEARTBEAT_S`)."""
    store, port = tmp_path / "nats", free_port()
    revocations = TokenRevocations()
    revoked = TokensRevoked(user_key=user_key("hub"), min_version=3, at=datetime.now(UTC))
    with running_nats(store, port=port) as url:
        bus = Bus(CommonSettings(nats_url=url), name="revocation-test")
        await bus.start()
        await asyncio.wait_for(bus.ready.wait(), timeout=10)
        await revocations.start(bus)
    with running_nats(store, port=port):
        try:
            data = revoked.model_dump_json().encode()
            await once_nats_is_back(lambda: bus.js.publish(tokens_subject("hub"), data))
            await until(
                lambda: revocations.min_versions.get(user_key("hub")) == 3,
                timeout=10,
                what="the revocation after the restart",
            )
        finally:
            await bus.close()

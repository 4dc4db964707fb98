"""The idempotency table (issue 13, item 3): a stored answer is encrypted and its request kept
only as a keyed hash; a record past its time-to-live is ignored on look-up and purged."""

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import Engine, select, update

from services.needs.app import MIGRATIONS
from services.needs.models import IdempotencyKey
from shared.clock import utc_now
from shared.db import migrate, session_factory
from shared.idempotency_store import IdempotencyStore, Replay, request_digest

ANSWER = '{"name": "测试隐私张三丰", "phone": "13987650321"}'


def test_answers_are_encrypted_and_expired_records_are_ignored_then_purged(
    engine: Engine,
) -> None:
    migrate(engine, MIGRATIONS)
    sessions = session_factory(engine)
    store = IdempotencyStore(IdempotencyKey, ttl=timedelta(hours=1), stale_after=timedelta(1))
    body = ANSWER.encode()
    digest = request_digest(body)
    assert "张三丰" not in digest and digest != request_digest(b"another body")
    with sessions.begin() as s:
        assert store.claim(s, "k1", "POST /x by a", digest) == "claimed"
        store.finish(s, "k1", "POST /x by a", 201, "application/json", ANSWER)
        assert store.claim(s, "k2", "POST /x by a", digest) == "claimed"
        store.finish(s, "k2", "POST /x by a", 201, "application/json", ANSWER)
    with engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT body, request_hash FROM idempotency_key")).all()
    assert raw and all("张三丰" not in row[0] and "1398765" not in row[0] for row in raw)
    with sessions.begin() as s:
        assert store.claim(s, "k1", "POST /x by a", digest) == Replay(
            201, "application/json", ANSWER
        )
        old = utc_now() - timedelta(hours=2)
        s.execute(update(IdempotencyKey).where(IdempotencyKey.key == "k1").values(created_at=old))
    with sessions.begin() as s:  # expired: the request runs anew
        assert store.claim(s, "k1", "POST /x by a", digest) == "claimed"
        s.execute(update(IdempotencyKey).where(IdempotencyKey.key == "k2").values(created_at=old))
    with sessions.begin() as s:
        assert store.purge_expired(s) == 1
    with sessions() as s:
        assert s.scalars(select(IdempotencyKey.key)).all() == ["k1"]

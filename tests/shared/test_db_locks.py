"""SQLite under contention: a read never waits for the write lock, and a write that cannot get
it within the busy timeout is a 503 with Retry-After (the client retries), never a 500."""

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Engine, text

from shared import db, messaging
from shared.db import create_db_engine, read_session, run_in_transaction, session_factory
from shared.problems import install_problem_handlers


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    engine = create_db_engine(f"sqlite:///{tmp_path / 'locks.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY)"))
    yield engine
    engine.dispose()


def _holding_the_write_lock(engine: Engine, release: threading.Event) -> threading.Thread:
    taken = threading.Event()

    def writer() -> None:
        with engine.begin() as conn:  # BEGIN IMMEDIATE: the write lock, held until release
            conn.execute(text("INSERT INTO item DEFAULT VALUES"))
            taken.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert taken.wait(5)
    return thread


def test_a_read_does_not_wait_for_a_writer(engine: Engine) -> None:
    release = threading.Event()
    writer = _holding_the_write_lock(engine, release)
    try:
        with read_session(session_factory(engine)) as session:
            assert session.scalar(text("SELECT count(*) FROM item")) == 0  # no SQLITE_BUSY
        db.ping(engine)
    finally:
        release.set()
        writer.join()


def test_a_write_that_cannot_get_the_lock_is_a_503_with_retry_after(engine: Engine) -> None:
    sessions = session_factory(engine)
    app = FastAPI()
    install_problem_handlers(app, retry_after_s=3)

    @app.post("/items")
    async def add() -> dict[str, str]:
        await run_in_transaction(
            sessions, lambda s: s.execute(text("INSERT INTO item DEFAULT VALUES"))
        )
        return {"status": "added"}

    release = threading.Event()
    writer = _holding_the_write_lock(engine, release)
    try:
        response = TestClient(app, raise_server_exceptions=False).post("/items")
    finally:
        release.set()
        writer.join()
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "3"
    assert response.headers["content-type"] == "application/problem+json"


class Empty(BaseModel):
    pass


async def test_a_responder_that_cannot_get_the_lock_answers_503(engine: Engine) -> None:
    """Over NATS as over HTTP: the asker passes the 503 on (Retry-After), never a 500."""
    sessions = session_factory(engine)

    async def add(_request: Empty) -> Empty:
        await run_in_transaction(
            sessions, lambda s: s.execute(text("INSERT INTO item DEFAULT VALUES"))
        )
        return Empty()

    release = threading.Event()
    writer = _holding_the_write_lock(engine, release)
    try:
        body, headers = await messaging._answer(b"{}", Empty, add)
    finally:
        release.set()
        writer.join()
    assert headers == {messaging.STATUS_HEADER: "503"}, body
    assert json.loads(body)["status"] == 503

"""The bench drops every PostgreSQL database it makes, however its section ends: `--only nats`
left `<prefix>_resources` and `<prefix>_needs` behind."""

import os
import uuid

import psycopg
import pytest

from bench import postgres

POSTGRES_URL = os.environ.get("LIANJIE_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL")


def existing(server: postgres.Server, names: list[str]) -> set[str]:
    with psycopg.connect(server.admin_url) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (names,)
        ).fetchall()
    return {row[0] for row in rows}


def test_fresh_databases_are_dropped_when_the_section_fails() -> None:
    assert POSTGRES_URL
    server = postgres.Server(admin_url=POSTGRES_URL, database="unused")
    prefix = f"lj_bench_{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}_resources", f"{prefix}_needs"]
    with pytest.raises(RuntimeError), postgres.fresh_databases(server, names):
        assert existing(server, names) == set(names)
        raise RuntimeError("the section failed")
    assert existing(server, names) == set()

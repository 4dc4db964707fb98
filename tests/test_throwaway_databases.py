"""The suite's throw-away PostgreSQL databases: a run's start drops those a killed run left
behind more than a day ago, and never one a run still going may use."""

import time
import uuid

import psycopg
import pytest

from tests.conftest import POSTGRES_URL, STALE_AFTER_S, _libpq, sweep_stale_databases

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs LIANJIE_TEST_POSTGRES_URL")


def _names() -> set[str]:
    assert POSTGRES_URL
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


def test_a_killed_runs_databases_older_than_a_day_are_swept_and_newer_ones_kept() -> None:
    assert POSTGRES_URL
    now = time.time()
    random = uuid.uuid4().hex[:8]
    stale = f"lj_sweep_probe_{int(now - STALE_AFTER_S - 60):08x}_{random}"
    recent = f"lj_sweep_probe_{int(now - STALE_AFTER_S + 3600):08x}_{random}"
    unstamped = f"lj_sweep_probe_{random}"  # an older naming: its age is unknown, so it stays
    made = [stale, f"{stale}_empty", recent, unstamped]
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
        for name in made:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        sweep_stale_databases()
        left = _names()
        assert stale not in left and f"{stale}_empty" not in left
        assert recent in left and unstamped in left
    finally:
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')

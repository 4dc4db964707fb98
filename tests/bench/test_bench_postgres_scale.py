"""At sizes made of moved copies (bench/scale.py), the bench ranks in PostgreSQL too: the same
resources COPYed in, the same needs, the same answers as the matcher, a same-run ratio in place
of the bound, and its database dropped after."""

import json
import os
import uuid
from pathlib import Path

import psycopg
import pytest

from bench import __main__ as bench

POSTGRES_URL = os.environ.get("LIANJIE_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL")


def test_moved_copies_are_ranked_in_postgresql_beside_the_matcher(tmp_path: Path) -> None:
    assert POSTGRES_URL
    database = f"lj_pg10m_{uuid.uuid4().hex[:8]}"
    argv = [
        "--sizes", "3000", "--generate-max", "1000", "--only", "inprocess,postgres",
        "--repeat", "1", "--queries", "60", "--sample", "60", "--no-readme",
        "--results", str(tmp_path), "--postgres", POSTGRES_URL, "--database", database,
    ]  # fmt: skip

    assert bench.main(argv) == 0

    (written,) = tmp_path.glob("*.json")
    size = json.loads(written.read_text("utf-8"))["sizes"]["3000"]
    assert size["postgres"]["latency"]["count"] == 60, size.get("notes")
    assert size["postgres"]["load_and_index_s"] > 0
    agreed = size["agreement"]["postgres"]
    assert agreed["sample"] == 60
    assert agreed["identical"] == 60, agreed["first_disagreement"]
    ratio = size["postgres"]["latency"]["p50_ms"] / size["inprocess"]["latency"]["p50_ms"]
    assert size["ratios"]["postgres_over_inprocess_p50"] == round(ratio, 2)
    assert not any("lower" in note and "bound" in note for note in size["notes"])
    with psycopg.connect(POSTGRES_URL) as conn:
        left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        assert left.fetchone() is None

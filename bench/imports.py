"""Imports: a prefecture's volunteers (凉山州, 120,000 of them) from one CSV into the resources
service's PostgreSQL database, duplicate detection on, through the code `POST
/resources/import` runs (`importing.read_rows` + `importing.import_rows`, in process: the HTTP
hop is one request and plays no part per row). Per-row cost is read every 10,000 rows, so a cost
that grows with the library shows. Beside it, in the same run: the floor, the same rows
COPY'd into a bare table; and creating one resource next to 10,000 others in one spot (±200 m),
against the scan that registration did before the index (`duplicates.scan_for_twin`)."""

import base64
import csv
import io
import itertools
import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy.orm import Session, sessionmaker

from bench import postgres
from bench.latency import summarize
from services.resources import duplicates, importing, service
from services.resources.app import MIGRATIONS
from services.resources.csv_io import COLUMNS
from services.resources.schemas import ResourceCreate
from shared import crypto, demo
from shared.db import create_db_engine, migrate, session_factory, transaction

PREFECTURE = "5134"  # 凉山彝族自治州
CHECKPOINT = 10_000
SPOT = (27.8944, 102.2644)  # 西昌市
SPOT_KM = 0.2
NEAR_CREATES = 200
REFERENCE_CREATES = 20


def volunteers(*, seed: int, count: int, spot: tuple[float, float] | None = None) -> bytes:
    """A CSV of `count` volunteers (personal names, their mobiles) around the prefecture's
    townships, or all within SPOT_KM of `spot`; a name recurs, as real names do."""
    rng = random.Random(seed)
    counties = [c for c in demo.province_counties("51") if c.adcode.startswith(PREFECTURE)]
    towns = [t for county in counties for t in demo.townships(county, rng)]
    keys = [key for _, key in COLUMNS]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([zh for zh, _ in COLUMNS])
    for _ in range(count):
        name = rng.choice(demo.SURNAMES) + rng.choice(demo.GIVEN)
        if spot is None:
            town = rng.choice(towns)
            lat, lon = demo._offset(rng, town.lat, town.lon, 3)
        else:
            lat, lon = demo._offset(rng, *spot, SPOT_KM)
        row = {
            "name": f"{name}{rng.choice(['', '', '志愿者', '（志愿者）'])}",
            "kind": "volunteer",
            "categories": rng.choice(demo.VOLUNTEER_OFFERS)[0],
            "lat": lat,
            "lon": lon,
            "radius_km": 5,
            "capacity_total": rng.randint(2, 8),
            "capacity_unit": "persons",
            "capacity_period": "month",
            "contact_name": name,
            "contact_phone": f"13{rng.randrange(10**9):09d}",
            "verified": "是",
        }
        writer.writerow([row.get(key, "") for key in keys])
    return out.getvalue().encode("utf-8")


def fresh_sessions(server: postgres.Server, name: str) -> sessionmaker[Session]:
    """Sessions on a new, migrated database `name`."""
    postgres.drop_database(server, name)
    postgres.create_database(server, name)
    engine = create_db_engine(server.sqlalchemy_url(name))
    migrate(engine, MIGRATIONS)
    return session_factory(engine)


def timed_import(sessions: sessionmaker[Session], content: bytes) -> dict[str, Any]:
    """Read and import the file; seconds in all and ms per row for each 10,000 rows."""
    marks: list[float] = []
    count = 0

    def on_row(_outcome: importing.RowOutcome) -> None:
        nonlocal count
        count += 1
        if count % CHECKPOINT == 0:
            marks.append(time.perf_counter())

    start = time.perf_counter()
    rows = importing.read_rows(content, "csv")
    read_s = time.perf_counter() - start
    report = importing.import_rows(sessions=sessions, rows=rows, on_row=on_row)
    seconds = time.perf_counter() - start
    edges = [start + read_s, *marks]
    per_block = [round((b - a) * 1000 / CHECKPOINT, 3) for a, b in itertools.pairwise(edges)]
    return {
        "rows": report.total,
        "accepted": report.accepted,
        "flagged_duplicates": report.flagged,
        "rejected": report.rejected,
        "seconds": round(seconds, 2),
        "read_s": round(read_s, 2),
        "rows_per_s": round(report.total / seconds, 1),
        "ms_per_row": round(seconds * 1000 / max(report.total, 1), 3),
        "ms_per_row_each_10k": per_block,
    }


def copy_floor(server: postgres.Server, name: str, content: bytes) -> dict[str, Any]:
    """The same rows read and COPY'd into a bare table of the same columns: the floor."""
    start = time.perf_counter()
    rows = importing.read_rows(content, "csv")
    with psycopg.connect(server.url(name), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bare (name text, lat float8, lon float8, categories text, "
            "capacity int, contact_name text, contact_phone text)"
        )
        with conn.cursor().copy("COPY bare FROM STDIN") as copy:
            for row in rows:
                body = row.data
                copy.write_row(
                    (body["name"], body["location"]["lat"], body["location"]["lon"],
                     ",".join(body["categories"]), body["capacity"]["total"],
                     body["contact_name"], body["contact_phone"])
                )  # fmt: skip
    seconds = time.perf_counter() - start
    return {"rows": len(rows), "seconds": round(seconds, 2), "ms_per_row": _per(seconds, rows)}


def _per(seconds: float, rows: list[Any]) -> float:
    return round(seconds * 1000 / max(len(rows), 1), 4)


def create_near(
    sessions: sessionmaker[Session], *, seed: int, creates: int, twin_of: Callable[..., Any] | None
) -> dict[str, Any]:
    """Register `creates` volunteers one by one in the crowded spot, each its own transaction;
    with `twin_of`, time only that duplicate check (the reference scan) instead."""
    rng = random.Random(seed)
    timings: list[float] = []
    flagged = 0
    for i in range(creates):
        lat, lon = demo._offset(rng, *SPOT, SPOT_KM)
        name = rng.choice(demo.SURNAMES) + rng.choice(demo.GIVEN) + f"{i:03d}"
        body = {
            "name": name, "kind": "volunteer", "categories": ["elderly_care.companionship"],
            "location": {"lat": lat, "lon": lon}, "radius_km": 5,
            "capacity": {"total": 3, "unit": "persons", "period": "month"},
        }  # fmt: skip
        start = time.perf_counter()
        with transaction(sessions) as session:
            if twin_of is None:
                created = service.create(session=session, data=ResourceCreate.model_validate(body))
                flagged += created.duplicate_of is not None
            else:
                flagged += twin_of(session=session, name=name, lat=lat, lon=lon) is not None
        timings.append(time.perf_counter() - start)
    return {"creates": creates, "latency": summarize(timings).as_dict(), "flagged": flagged}


def measure(
    *, server: postgres.Server, database: str, sizes: list[int], seed: int
) -> dict[str, Any]:
    """Every figure of the imports section (databases `<database>_<n>` made and dropped)."""
    key = base64.b64encode(os.urandom(32)).decode()  # the bench's contacts are made up
    crypto.configure(
        crypto.FieldCipher.from_settings(keys=f"bench:{key}", current="bench", index_key=key)
    )
    out: dict[str, Any] = {}
    try:
        for size in sizes:
            content = volunteers(seed=seed, count=size)
            sessions = fresh_sessions(server, f"{database}_{size}")
            out[f"import_{size}"] = timed_import(sessions, content)
            sessions.kw["bind"].dispose()
            out[f"floor_{size}"] = copy_floor(server, f"{database}_{size}", content)
            postgres.drop_database(server, f"{database}_{size}")
        crowded = volunteers(seed=seed + 1, count=10_000, spot=SPOT)
        sessions = fresh_sessions(server, f"{database}_spot")
        out["spot_import_10k"] = timed_import(sessions, crowded)
        out["create_near_10k"] = create_near(
            sessions, seed=seed, creates=NEAR_CREATES, twin_of=None
        )
        out["create_near_10k_reference_scan"] = create_near(
            sessions, seed=seed + 2, creates=REFERENCE_CREATES, twin_of=duplicates.scan_for_twin
        )
        sessions.kw["bind"].dispose()
    finally:
        for name in [*(str(size) for size in sizes), "spot"]:
            postgres.drop_database(server, f"{database}_{name}")
    _flatness(out, sizes)
    return out


def _flatness(out: dict[str, Any], sizes: list[int]) -> None:
    """Per-row cost of the last 10,000 rows of the largest import over its first 10,000."""
    largest = out.get(f"import_{max(sizes)}", {})
    out["largest"] = largest
    if largest.get("ms_per_row"):  # the goal is for 120,000 rows
        out["seconds_for_120k"] = round(largest["ms_per_row"] * 120, 1)
    blocks = largest.get("ms_per_row_each_10k") or []
    if len(blocks) >= 2:
        out["last_10k_over_first_10k"] = round(blocks[-1] / blocks[0], 2)
        out["median_block_ms_per_row"] = statistics.median(blocks)

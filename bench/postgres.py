"""PostgreSQL as a county would use it: one table, a spatial index, the rule written in SQL.

PostGIS (geography points, GiST, ST_DWithin) is installed from Debian's packages when missing;
if that fails, cube + earthdistance (a GiST index over earth points, earth_box) stand in, and
the results say which. Either way the spatial index only narrows the rows: distance, filters
and score are computed in SQL with the same formula, terms and order as the matcher, and the
answer is ordered as the matcher orders it: score (descending), distance, id; the score is
reported rounded to 6 decimals, as the matcher reports it.
"""

import contextlib
import io
import logging
import math
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.data import TopK
from bench.latency import Summary, now, summarize
from services.matcher.decode import ResourceState
from services.matcher.ranking import ScoreParams
from shared import divisions, taxonomy
from shared.contracts.matcher import RankRequest
from shared.contracts.resources import CapacityMode, ResourceUpserted
from shared.geo import EARTH_RADIUS_KM

log = logging.getLogger(__name__)

POSTGIS = "postgis"
EARTHDISTANCE = "cube+earthdistance"
# Neither earthdistance's sphere nor PostGIS's is exactly ours (and earth_box is a box), so the
# index search is padded by 1 %: it only pre-selects rows, the exact distance below decides.
SEARCH_PAD = 1.01
COPY_BATCH = 20_000  # rows written to COPY at once
# Index builds at 10 million rows: PostgreSQL's default (64 MB) sorts them on disk in many runs.
MAINTENANCE_WORK_MEM = "1GB"

State = ResourceUpserted | ResourceState
"""A resource as the demo generator makes it, or as the matcher decodes it from the stream
(the moved copies of bench/scale.py): the same fields under the same names."""


@dataclass(frozen=True)
class Server:
    """Where the bench's PostgreSQL is: an admin URL and the name of its own database."""

    admin_url: str  # libpq URL of a database the bench may connect to (never written to)
    database: str

    def url(self, database: str | None = None) -> str:
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{database or self.database}"

    def sqlalchemy_url(self, database: str) -> str:
        return self.url(database).replace("postgresql://", "postgresql+psycopg://", 1)


def create_database(server: Server, name: str) -> None:
    """A fresh, empty database (dropped first if a previous run left it)."""
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(server: Server, name: str) -> None:
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_databases(server: Server, names: Iterable[str]) -> Iterator[None]:
    """Fresh, empty databases `names` for the `with` block, dropped after it however it ends:
    a bench leaves no database behind."""
    made: list[str] = []
    try:
        for name in names:
            create_database(server, name)
            made.append(name)
        yield
    finally:
        for name in made:
            drop_database(server, name)


def _available(conn: psycopg.Connection[Any], extension: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = %s", (extension,)
    ).fetchone()
    return row is not None


def install_postgis(conn: psycopg.Connection[Any]) -> str:
    """Install Debian's PostGIS package for this server's major version; a note on what
    happened (the server must be on this machine and we must be allowed to use apt-get)."""
    if _available(conn, "postgis"):
        return "postgis already available"
    row = conn.execute("SHOW server_version_num").fetchone()
    major = int(row[0]) // 10000 if row else 0
    apt = shutil.which("apt-get")
    if apt is None:
        return "apt-get not found"
    package = f"postgresql-{major}-postgis-3"
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    for command in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", package]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(command[1:])} failed: {done.stderr.strip()[-300:]}"
    return f"installed {package}" if _available(conn, "postgis") else f"{package} not usable"


def enable_spatial(server: Server) -> tuple[str, str]:
    """Enable PostGIS in the bench database (installing it if needed), else earthdistance."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        note = install_postgis(conn)
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            return POSTGIS, note
        except psycopg.Error as exc:
            note += f"; CREATE EXTENSION postgis failed: {exc}"
        conn.execute("CREATE EXTENSION IF NOT EXISTS cube")
        conn.execute("CREATE EXTENSION IF NOT EXISTS earthdistance")
        return EARTHDISTANCE, note


def _array(values: list[str]) -> str:
    """A text[] literal for COPY's text format (our codes hold no quotes or commas)."""
    return "{" + ",".join(values) + "}"


def _row(s: State) -> str:
    """One resource as a line of COPY's text format."""
    radius = "\\N" if s.radius_km is None else repr(s.radius_km)
    return (
        f"{s.resource_id}\t{s.lat!r}\t{s.lon!r}\t{radius}\t{_array(list(s.categories))}\t"
        f"{_array(list(s.adcodes))}\t{_array(list(s.eligible_groups))}\t{s.capacity_total}\t"
        f"{s.capacity_remaining}\t{s.capacity_mode == CapacityMode.WAITLIST}\t"
        f"{s.open_referrals}\t{s.active}\n"
    )


def load(server: Server, states: Iterable[State], spatial: str) -> float:
    """Create the table, COPY the states in (streamed: 10 million are never held at once),
    build the indexes; seconds it took."""
    start = now()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
        conn.execute("DROP TABLE IF EXISTS resource")
        conn.execute(
            """CREATE TABLE resource (
                id text COLLATE "C" PRIMARY KEY, lat float8 NOT NULL, lon float8 NOT NULL,
                radius_km float8, categories text[] NOT NULL, adcodes text[] NOT NULL,
                eligible_groups text[] NOT NULL, capacity_total int NOT NULL,
                capacity_remaining int NOT NULL, waitlist bool NOT NULL,
                open_referrals int NOT NULL, active bool NOT NULL)"""
        )
        with conn.cursor().copy("COPY resource FROM STDIN") as copy:
            buffer = io.StringIO()
            for i, s in enumerate(states):
                buffer.write(_row(s))
                if i % COPY_BATCH == COPY_BATCH - 1:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        if spatial == POSTGIS:
            conn.execute("ALTER TABLE resource ADD COLUMN geog geography(Point, 4326)")
            conn.execute("UPDATE resource SET geog = ST_MakePoint(lon, lat)::geography")
            conn.execute("CREATE INDEX resource_geog ON resource USING gist (geog)")
        else:
            conn.execute(
                "CREATE INDEX resource_earth ON resource USING gist (ll_to_earth(lat, lon))"
            )
        conn.execute("CREATE INDEX resource_categories ON resource USING gin (categories)")
        conn.execute("CREATE INDEX resource_adcodes ON resource USING gin (adcodes)")
        conn.execute("ANALYZE resource")
    return now() - start


# The distance mirrors shared.geo.haversine_km(need, resource) term by term; the score adds the
# terms in the matcher's order. %(…)s are the need's parameters, {near} the spatial pre-filter.
RANK_SQL = """
WITH near AS (
    SELECT r.*,
           (2 * %(earth_radius)s::float8) * asin(least(1.0::float8, sqrt(
               h.s_dp * h.s_dp + %(cos_p1)s::float8 * cos(radians(r.lat)) * (h.s_dl * h.s_dl)
           ))) AS distance,
           (SELECT max(f.fit) FROM unnest(%(codes)s::text[], %(fits)s::float8[]) AS f(code, fit)
             WHERE f.code = ANY(r.categories)) AS fit
      FROM resource r,
           LATERAL (SELECT sin((radians(r.lat) - %(p1)s::float8) / 2) AS s_dp,
                           sin(radians(r.lon - %(lon)s::float8) / 2) AS s_dl) h
     WHERE r.categories && %(codes)s::text[]
       AND ({near} OR r.adcodes && %(ancestors)s::text[])
       AND r.active
       AND (r.capacity_remaining >= %(quantity)s OR r.waitlist)
       AND (cardinality(r.eligible_groups) = 0 OR r.eligible_groups && %(groups)s::text[])
       AND NOT r.id = ANY(%(exclude)s::text[])
), feasible AS (
    SELECT id, distance,
           %(w_category)s::float8 * fit
         + %(w_distance)s::float8 * exp(-distance / %(scale)s::float8)
         + %(w_headroom)s::float8 * CASE WHEN capacity_total <= 0 THEN 0.0::float8 ELSE
               greatest(0.0::float8, least(1.0::float8,
                 (capacity_remaining - %(quantity)s)::float8 / capacity_total::float8)) END
         + %(w_text)s::float8 * 0.0::float8
         + %(w_load)s::float8
           * (1.0::float8 / (1.0::float8 + open_referrals::float8 / %(load_scale)s::float8))
           AS score
      FROM near
     WHERE ((radius_km IS NOT NULL AND distance <= radius_km) OR adcodes && %(ancestors)s::text[])
       AND (%(max_distance)s::float8 IS NULL OR distance <= %(max_distance)s::float8)
)
SELECT id, score
  FROM feasible
 ORDER BY score DESC, distance, id
 LIMIT %(k)s
"""
NEAR = {
    POSTGIS: "ST_DWithin(r.geog, ST_MakePoint(%(lon)s, %(lat)s)::geography, %(reach_m)s, false)",
    EARTHDISTANCE: (
        "earth_box(ll_to_earth(%(lat)s, %(lon)s), %(reach_m)s) @> ll_to_earth(r.lat, r.lon)"
    ),
}


def max_reach_km(states: Iterable[State]) -> float:
    """The largest service radius: no resource farther than this can reach a need."""
    return max((s.radius_km for s in states if s.radius_km is not None), default=0.0)


def parameters(
    query: RankRequest, params: ScoreParams, reach_km: float, spatial: str
) -> dict[str, Any]:
    """The SQL parameters of one need."""
    codes = taxonomy.compatible_offers(query.category)
    p1 = math.radians(query.lat)
    reach = min(reach_km, query.max_distance_km) if query.max_distance_km else reach_km
    return {
        "lat": query.lat,
        "lon": query.lon,
        "p1": p1,
        "cos_p1": math.cos(p1),
        "earth_radius": EARTH_RADIUS_KM,
        "reach_m": reach * 1000.0 * SEARCH_PAD,
        "codes": codes,
        "fits": [taxonomy.category_fit(code, query.category) for code in codes],
        "ancestors": divisions.ancestors(query.adcode) if query.adcode else [],
        "quantity": query.quantity,
        "groups": query.groups,
        "exclude": query.exclude,
        "max_distance": query.max_distance_km,
        "scale": params.distance_scale_km,
        "load_scale": params.load_scale,
        "k": query.k,
        **{f"w_{name}": weight for name, weight in params.weights.items()},
    }


@contextlib.contextmanager
def connect(server: Server) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(server.url(), autocommit=True, prepare_threshold=0) as conn:
        yield conn


def measure(
    server: Server,
    reach_km: float,
    needs: list[RankRequest],
    params: ScoreParams,
    *,
    spatial: str,
    sample: int,
    warmup: int = 20,
) -> tuple[Summary, list[TopK], str]:
    """Latency of the SQL ranking over every need (one connection, one query at a time, over
    loopback), the answers to the first `sample`, and the plan of the first query; `reach_km`
    is the largest service radius of the resources loaded (`max_reach_km`)."""
    sql = RANK_SQL.format(near=NEAR[spatial])
    timings: list[float] = []
    answers: list[TopK] = []
    with connect(server) as conn:
        first = parameters(needs[0], params, reach_km, spatial)
        plan = "\n".join(
            str(row[0]) for row in conn.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, first)
        )
        for need in needs[:warmup]:
            conn.execute(sql, parameters(need, params, reach_km, spatial)).fetchall()
        for i, need in enumerate(needs):
            values = parameters(need, params, reach_km, spatial)
            start = now()
            rows = conn.execute(sql, values).fetchall()
            timings.append(now() - start)
            if i < sample:
                answers.append([(str(r[0]), round(float(r[1]), 6)) for r in rows])
    return summarize(timings), answers, plan

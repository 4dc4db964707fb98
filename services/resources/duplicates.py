"""Duplicate detection (查重): does a registration look like an organization already in the
library? The same phone (through its blind index), or a near-identical name within a few
hundred metres: difflib's ratio of the normalised names ≥ 0.9, within 0.3 km (haversine).

Found through an index, not by reading the neighbourhood: every resource keeps its normalised
name, the name's length, a signature of its characters and a grid cell. A registration reads
only the resources of the cells around it whose name could reach the ratio at all, and judges
only those with difflib. Each filter is a necessary condition of the rule, so the answer is
the one a scan of every resource would give, while a place with 10,000 resources costs what its
few look-alikes cost:
- ratio = 2·M ÷ (m + n) with M matched characters, M ≤ min(m, n): the lengths lie in a band;
- the m + n − 2·M unmatched characters number at least the characters of one name absent from
  the other, which the signatures (one bit per character, hashed) count from below.
"""

import math
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from difflib import SequenceMatcher
from fractions import Fraction
from itertools import groupby
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Text,
    any_,
    bindparam,
    cast,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, BIT
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from services.resources.models import Resource
from shared import geo
from shared.crypto import phone_index

WITHIN_KM = 0.3  # "the same place": a few hundred metres
NAME_RATIO = 0.9  # difflib ratio of normalised names that counts as "the same name"
KM_PER_DEGREE_LAT = 111.0  # a little short of the truth: the reach in latitude is generous
CELL_DEGREES = 0.003  # a cell is larger than WITHIN_KM, so the neighbours hold every candidate
CELL_ROW = 1_000_000  # cell = latitude row × CELL_ROW + longitude column
SIGNATURE_BITS = 63  # a signed 64-bit integer stays positive
SLACK = 1e-9  # difflib compares a float ratio: never lose a pair to rounding
_RATIO = Fraction(NAME_RATIO).limit_denominator(1000)
# Differing signature bits ≤ (1 − ratio)·(m + n), in whole numbers: bits·den ≤ (m + n)·allowed.
_RATIO_TERMS = {"denominator": _RATIO.denominator, "allowed": _RATIO.denominator - _RATIO.numerator}

# The look-alikes of many registrations in one round trip (PostgreSQL): one probe per
# registration and cell around it, each probe an index-only range scan of its cell and length
# band (LATERAL … OFFSET 0 keeps it a nested loop of index probes: a hash join would read the
# whole table, a cost that grows with the library).
_LOOK_ALIKES = text(
    """
    SELECT q.at, r.created_at, r.id, r.lat, r.lon, r.name_key, r.name_signature
    FROM unnest(CAST(:at AS integer[]), CAST(:cell AS bigint[]), CAST(:low AS integer[]),
                CAST(:high AS integer[]), CAST(:bits AS bigint[]), CAST(:length AS integer[]))
         AS q(at, cell, low, high, bits, length)
    CROSS JOIN LATERAL (
        SELECT created_at, id, lat, lon, name_key, name_signature FROM resource
        WHERE cell = q.cell AND name_length BETWEEN q.low AND q.high AND active
          AND bit_count(CAST(name_signature # q.bits AS bit(64))) * :denominator
              <= (name_length + q.length) * :allowed
        OFFSET 0
    ) AS r
    ORDER BY q.at, r.created_at, r.id
    """
)


def normalise_name(name: str) -> str:
    """Full-width to half-width, lower case, punctuation and spaces out."""
    folded = unicodedata.normalize("NFKC", name).lower()
    return "".join(ch for ch in folded if ch.isalnum())


def signature(key: str) -> int:
    """One bit per character of a normalised name (characters share bits modulo 63)."""
    bits = 0
    for ch in key:
        bits |= 1 << (ord(ch) % SIGNATURE_BITS)
    return bits


def cell_of(lat: float, lon: float) -> int:
    """The grid cell a point lies in."""
    return _row(lat) * CELL_ROW + _column(lon)


def _row(lat: float) -> int:
    return math.floor((lat + 90.0) / CELL_DEGREES)


def _column(lon: float) -> int:
    return math.floor((lon + 180.0) / CELL_DEGREES)


def cells_around(lat: float, lon: float) -> list[int]:
    """Every cell holding a point within WITHIN_KM of (lat, lon)."""
    reach_lat = WITHIN_KM / KM_PER_DEGREE_LAT
    widest = min(abs(lat) + reach_lat, 89.9)  # a degree of longitude shrinks towards the poles
    reach_lon = reach_lat / math.cos(math.radians(widest))
    return [
        row * CELL_ROW + column
        for row in range(_row(lat - reach_lat), _row(lat + reach_lat) + 1)
        for column in range(_column(lon - reach_lon), _column(lon + reach_lon) + 1)
    ]


def length_band(length: int) -> tuple[int, int]:
    """The name lengths n that can reach NAME_RATIO with a name of `length` characters:
    2·min(m, n) ÷ (m + n) ≥ ratio. Found from the formula (one more either side, for
    rounding), then narrowed to the lengths whose best ratio, computed as difflib computes a
    ratio, reaches NAME_RATIO: in a crowded place each length left out is rows not read."""
    low = max(math.ceil(NAME_RATIO * length / (2 - NAME_RATIO)) - 1, 0)
    high = math.floor((2 - NAME_RATIO) * length / NAME_RATIO) + 1
    while low < length and _best_ratio(length, low) < NAME_RATIO:
        low += 1
    while high > length and _best_ratio(length, high) < NAME_RATIO:
        high -= 1
    return low, high


def _best_ratio(m: int, n: int) -> float:
    """The highest difflib ratio two names of m and n characters can have (all of the shorter
    one matched), as difflib computes it."""
    return 2.0 * min(m, n) / (m + n) if m + n else 1.0


def unmatched_allowed(total_length: int) -> float:
    """How many characters of two names (of `total_length` together) may stay unmatched."""
    return (1 - NAME_RATIO) * total_length + SLACK


def index_keys(resource: Resource) -> None:
    """Set the columns duplicate detection reads from the resource's name and place."""
    for column, value in keys(name=resource.name, lat=resource.lat, lon=resource.lon).items():
        setattr(resource, column, value)


def keys(*, name: str, lat: float, lon: float) -> dict[str, Any]:
    """The columns duplicate detection reads, from a name and a place, by column name."""
    key = normalise_name(name)
    return {
        "name_key": key,
        "name_length": len(key),
        "name_signature": signature(key),
        "cell": cell_of(lat, lon),
    }


def find_duplicate(
    *,
    session: Session,
    name: str,
    lat: float,
    lon: float,
    phone: str | None,
    exclude_id: str | None = None,
) -> Resource | None:
    """The earliest active resource that looks like the same organization: the same phone
    (already normalised), or a near-identical name within WITHIN_KM."""
    if phone:
        query = select(Resource).where(
            Resource.contact_phone_hash == phone_index(phone), Resource.active
        )
        for twin in session.scalars(query.order_by(Resource.created_at)):
            if twin.id != exclude_id:
                return twin
    other_id = _first_look_alike(session, normalise_name(name), lat, lon, exclude_id)
    return None if other_id is None else session.get(Resource, other_id)


def _first_look_alike(
    session: Session, key: str, lat: float, lon: float, exclude_id: str | None
) -> str | None:
    """The id of the oldest active resource within WITHIN_KM whose name reaches NAME_RATIO."""
    first = _first_stored_look_alike(session, key, lat, lon, exclude_id)
    return None if first is None else first.id


class Candidate(NamedTuple):
    """A resource as duplicate detection reads it from the index."""

    created_at: datetime
    id: str
    lat: float
    lon: float
    name_key: str
    name_signature: int


CANDIDATE_COLUMNS = (
    Resource.created_at,
    Resource.id,
    Resource.lat,
    Resource.lon,
    Resource.name_key,
    Resource.name_signature,
)


def _first_stored_look_alike(
    session: Session, key: str, lat: float, lon: float, exclude_id: str | None
) -> Candidate | None:
    low, high = length_band(len(key))
    query = select(*CANDIDATE_COLUMNS).where(
        Resource.active,
        Resource.cell.in_(cells_around(lat, lon)),
        Resource.name_length.between(low, high),
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.where(_signatures_close(signature(key), len(key)))
    candidates = (
        Candidate(*row)
        for row in session.execute(query.order_by(Resource.created_at, Resource.id))
        if row.id != exclude_id
    )
    return _first_alike(key, lat, lon, candidates)


def _first_alike(
    key: str, lat: float, lon: float, candidates: Iterable[Candidate]
) -> Candidate | None:
    """The first of `candidates` (in their order) within WITHIN_KM whose name reaches
    NAME_RATIO; the cheap necessary conditions first, difflib last."""
    bits = signature(key)
    matcher = SequenceMatcher(None, key)
    for other in candidates:
        if (bits ^ other.name_signature).bit_count() > unmatched_allowed(
            len(key) + len(other.name_key)
        ):
            continue
        if geo.haversine_km(lat, lon, other.lat, other.lon) > WITHIN_KM:
            continue
        matcher.set_seq2(other.name_key)
        if matcher.real_quick_ratio() < NAME_RATIO or matcher.quick_ratio() < NAME_RATIO:
            continue
        if matcher.ratio() >= NAME_RATIO:
            return other
    return None


def find_twins(*, session: Session, rows: list[dict[str, Any]]) -> list[str | None]:
    """For new active resources (their columns as registered, not yet stored), in their order:
    the id `find_duplicate` would give each had they been created one after another — the
    earliest active resource with the same phone, else the earliest with a look-alike name
    nearby, among the library and the resources before it in `rows`. The library is read in
    two queries (PostgreSQL; SQLite, in-process, a look-up per resource); the resources among
    themselves are compared in memory, with the same rule."""
    phones = {row["contact_phone_hash"] for row in rows if row["contact_phone_hash"]}
    first_by_phone = _first_by_phone(session, phones)
    twins: list[str | None] = []
    by_name: list[int] = []  # the resources with no phone twin: their names are compared
    for at, row in enumerate(rows):
        phone = row["contact_phone_hash"]
        first = first_by_phone.get(phone) if phone else None
        if phone and (first is None or (row["created_at"], row["id"]) < first):
            first_by_phone[phone] = (row["created_at"], row["id"])
        twins.append(None if first is None else first[1])
        if first is None:
            by_name.append(at)
    looked_up = _first_stored_look_alikes(session, [rows[at] for at in by_name])
    stored = {by_name[i]: first for i, first in looked_up.items()}
    earlier: dict[int, list[Candidate]] = defaultdict(list)  # these rows', by cell
    for at, row in enumerate(rows):
        if at in stored:
            key, lat, lon = row["name_key"], row["lat"], row["lon"]
            low, high = length_band(len(key))
            nearby = sorted(
                other
                for cell in cells_around(lat, lon)
                for other in earlier.get(cell, ())
                if low <= len(other.name_key) <= high
            )
            found = [c for c in (stored[at], _first_alike(key, lat, lon, nearby)) if c]
            twins[at] = min(found).id if found else None
        earlier[row["cell"]].append(Candidate(*(row[column.key] for column in CANDIDATE_COLUMNS)))
    return twins


def _first_by_phone(session: Session, phones: set[str]) -> dict[str, tuple[datetime, str]]:
    """The earliest active resource (created at, id) with each of these phones' blind index."""
    if not phones:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        # One array, not a thousand binds; sent untyped, so PostgreSQL reads it once as a
        # constant (a text cast to an array is parsed again for every row it filters).
        untyped = bindparam("phones", _array(phones), type_=NullType())
        same_phone = Resource.contact_phone_hash == any_(cast(untyped, ARRAY(Text)))
    else:
        same_phone = Resource.contact_phone_hash.in_(phones)
    query = select(Resource.contact_phone_hash, Resource.created_at, Resource.id).where(
        same_phone, Resource.active
    )
    first: dict[str, tuple[datetime, str]] = {}
    for phone, created_at, resource_id in session.execute(query):
        if phone is None:  # the column may be NULL; the rows asked for never are
            continue
        if phone not in first or (created_at, resource_id) < first[phone]:
            first[phone] = (created_at, resource_id)
    return first


def _first_stored_look_alikes(
    session: Session, rows: list[dict[str, Any]]
) -> dict[int, Candidate | None]:
    """The earliest stored look-alike of each new resource (by its place in `rows`)."""
    if session.get_bind().dialect.name != "postgresql":
        return {
            at: _first_stored_look_alike(session, r["name_key"], r["lat"], r["lon"], None)
            for at, r in enumerate(rows)
        }
    found: dict[int, Candidate | None] = dict.fromkeys(range(len(rows)))
    probes: dict[str, list[Any]] = defaultdict(list)
    for at, r in enumerate(rows):
        low, high = length_band(r["name_length"])
        for cell in cells_around(r["lat"], r["lon"]):
            for column, value in zip(
                ("at", "cell", "low", "high", "bits", "length"),
                (at, cell, low, high, r["name_signature"], r["name_length"]),
                strict=True,
            ):
                probes[column].append(value)
    if not probes:
        return found
    arrays = {column: _array(values) for column, values in probes.items()}
    result = session.execute(_LOOK_ALIKES, {**arrays, **_RATIO_TERMS})
    for at, group in groupby(result, key=lambda row: row[0]):
        r = rows[at]
        candidates = (Candidate(*row[1:]) for row in group)
        found[at] = _first_alike(r["name_key"], r["lat"], r["lon"], candidates)
    return found


def _array(values: Iterable[Any]) -> str:
    """Numbers or hex digests as a PostgreSQL array literal: one text, which the driver sends
    as it is (adapting a list of Python ints costs more than the look-up)."""
    return "{" + ",".join(map(str, values)) + "}"


def scan_for_twin(*, session: Session, name: str, lat: float, lon: float) -> str | None:
    """The rule as written, without the index: every active resource in a box around the
    place, read whole, and its name compared (what registration did before the index). The
    reference the index must agree with, in the tests and the bench."""
    reach_lat = WITHIN_KM / KM_PER_DEGREE_LAT
    reach_lon = reach_lat * 3  # a degree of longitude is at least a third of one of latitude
    key = normalise_name(name)
    nearby = select(Resource).where(
        Resource.active,
        Resource.lat.between(lat - reach_lat, lat + reach_lat),
        Resource.lon.between(lon - reach_lon, lon + reach_lon),
    )
    for other in session.scalars(nearby.order_by(Resource.created_at, Resource.id)):
        if geo.haversine_km(lat, lon, other.lat, other.lon) > WITHIN_KM:
            continue
        if SequenceMatcher(None, key, normalise_name(other.name)).ratio() >= NAME_RATIO:
            return other.id
    return None


def _signatures_close(bits: int, length: int) -> ColumnElement[bool]:
    """PostgreSQL counts the differing signature bits itself, from the index alone (it carries
    the signature): only rows that pass come back. In whole numbers: differing bits ≤
    (1 − ratio)·(m + n), with the ratio as a fraction."""
    differing = func.bit_count(
        cast(Resource.name_signature.op("#")(literal(bits, BigInteger)), BIT(64))
    )
    allowed = (Resource.name_length + length) * _RATIO_TERMS["allowed"]
    return differing * _RATIO_TERMS["denominator"] <= allowed

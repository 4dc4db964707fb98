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
from difflib import SequenceMatcher
from fractions import Fraction

from sqlalchemy import BigInteger, ColumnElement, cast, func, literal, select
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.orm import Session

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
    2·min(m, n) ÷ (m + n) ≥ ratio (one more either side, for rounding)."""
    low = math.ceil(NAME_RATIO * length / (2 - NAME_RATIO)) - 1
    high = math.floor((2 - NAME_RATIO) * length / NAME_RATIO) + 1
    return max(low, 0), high


def unmatched_allowed(total_length: int) -> float:
    """How many characters of two names (of `total_length` together) may stay unmatched."""
    return (1 - NAME_RATIO) * total_length + SLACK


def index_keys(resource: Resource) -> None:
    """Set the columns duplicate detection reads from the resource's name and place."""
    key = normalise_name(resource.name)
    resource.name_key = key
    resource.name_length = len(key)
    resource.name_signature = signature(key)
    resource.cell = cell_of(resource.lat, resource.lon)


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
    low, high = length_band(len(key))
    bits = signature(key)
    query = select(
        Resource.id, Resource.lat, Resource.lon, Resource.name_key, Resource.name_signature
    ).where(
        Resource.active,
        Resource.cell.in_(cells_around(lat, lon)),
        Resource.name_length.between(low, high),
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.where(_signatures_close(bits, len(key)))
    matcher = SequenceMatcher(None, key)
    for other_id, other_lat, other_lon, other_key, other_bits in session.execute(
        query.order_by(Resource.created_at, Resource.id)
    ):
        if other_id == exclude_id:
            continue
        if (bits ^ other_bits).bit_count() > unmatched_allowed(len(key) + len(other_key)):
            continue
        if geo.haversine_km(lat, lon, other_lat, other_lon) > WITHIN_KM:
            continue
        matcher.set_seq2(other_key)
        if matcher.real_quick_ratio() < NAME_RATIO or matcher.quick_ratio() < NAME_RATIO:
            continue
        if matcher.ratio() >= NAME_RATIO:
            return str(other_id)
    return None


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
    ratio = Fraction(NAME_RATIO).limit_denominator(1000)
    allowed = (Resource.name_length + length) * (ratio.denominator - ratio.numerator)
    return differing * ratio.denominator <= allowed

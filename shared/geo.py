"""Geography: WGS-84 validation, great-circle distance, and Chinese map datum conversion.

Coordinates copied from Chinese map apps are GCJ-02 (高德, 腾讯) or BD-09 (百度); everything
Lianjie stores is WGS-84, so input in those systems is converted on the way in.
"""

import math
from enum import StrEnum

EARTH_RADIUS_KM = 6371.0088

# A generous box around the People's Republic, for "is this point plausibly in China".
CHINA_BOUNDS = (3.0, 54.0, 73.0, 136.0)  # lat_min, lat_max, lon_min, lon_max


class Crs(StrEnum):
    """Coordinate reference systems accepted on input."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


def lat_lon_problem(lat: float, lon: float) -> tuple[str, str, str] | None:
    """The first broken rule of a WGS-84 point as (field, rule, message), or None if valid."""
    if not -90.0 <= lat <= 90.0:
        return ("lat", "range", "latitude must be between -90 and 90")
    if not -180.0 <= lon <= 180.0:
        return ("lon", "range", "longitude must be between -180 and 180")
    return None


def in_china(lat: float, lon: float) -> bool:
    """True when the point falls in the bounding box of China."""
    lat_min, lat_max, lon_min, lon_max = CHINA_BOUNDS
    return lat_min <= lat <= lat_max and lon_min <= lon <= lon_max


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres between two WGS-84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


_A = 6378245.0
_EE = 0.00669342162296594323


def _delta(lat: float, lon: float) -> tuple[float, float]:
    x, y = lon - 105.0, lat - 35.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    dlat += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    dlat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2 / 3
    dlat += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2 / 3
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    dlon += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    dlon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2 / 3
    dlon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return dlat, dlon


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """Apply the GCJ-02 offset (only inside China; elsewhere the point is returned unchanged)."""
    if not in_china(lat, lon):
        return lat, lon
    dlat, dlon = _delta(lat, lon)
    return lat + dlat, lon + dlon


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """Remove the GCJ-02 offset by fixed-point iteration (error well under a metre)."""
    if not in_china(lat, lon):
        return lat, lon
    wlat, wlon = lat, lon
    for _ in range(10):
        glat, glon = wgs84_to_gcj02(wlat, wlon)
        wlat, wlon = wlat + (lat - glat), wlon + (lon - glon)
    return wlat, wlon


_X_PI = math.pi * 3000.0 / 180.0


def bd09_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """Baidu's BD-09 to GCJ-02."""
    x, y = lon - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.sin(theta), z * math.cos(theta)


def to_wgs84(lat: float, lon: float, crs: Crs) -> tuple[float, float]:
    """Convert a point given in `crs` to WGS-84."""
    if crs is Crs.GCJ02:
        return gcj02_to_wgs84(lat, lon)
    if crs is Crs.BD09:
        return gcj02_to_wgs84(*bd09_to_gcj02(lat, lon))
    return lat, lon


def gcj02_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """GCJ-02 to Baidu's BD-09 (the inverse of `bd09_to_gcj02`)."""
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065

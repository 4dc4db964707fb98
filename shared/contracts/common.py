"""Field types every contract shares, each validated with a named rule."""

import re
from datetime import date, datetime, timedelta, timezone
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from shared import divisions, geo

CHINA_TIME = timezone(timedelta(hours=8))  # China keeps no daylight saving time


def china_date(moment: datetime) -> date:
    """The calendar day in China at `moment` (an aware time): the day availability is about."""
    return moment.astimezone(CHINA_TIME).date()


def available_on(day: date, *, available_from: date | None, available_until: date | None) -> bool:
    """Whether a resource offered from `available_from` to `available_until` (both inclusive,
    None: open-ended) is available on `day`."""
    return (available_from is None or available_from <= day) and (
        available_until is None or day <= available_until
    )


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
"""Every float of a contract: JSON has no NaN or Infinity, and one NaN poisons every comparison
(a distance, a score, a radius); the rule named in the 422 is `finite_number`."""

Latitude = Annotated[FiniteFloat, Field(ge=-90, le=90, description="WGS-84 latitude")]
Longitude = Annotated[FiniteFloat, Field(ge=-180, le=180, description="WGS-84 longitude")]
Urgency = Annotated[int, Field(ge=1, le=5, description="1 = can wait, 5 = today")]


def _existing_adcode(code: str) -> str:
    if not divisions.is_well_formed(code):
        raise PydanticCustomError("adcode_format", "an adcode has 6, 9 or 12 digits")
    if not divisions.exists(code):
        raise PydanticCustomError("unknown_adcode", "no administrative division has this code")
    return code


SUBJECT_TOKEN_MAX = 64
SUBJECT_TOKEN_RULE = "subject_token"
_SUBJECT_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def subject_token_problem(value: str) -> str | None:
    """Why `value` cannot be an id that becomes a token of a NATS subject (None: it can).

    One rule for every way an id comes in (API bodies and paths, CSV, HSDS, the CLI): ASCII
    letters, digits, `-` and `_`, 1 to 64 of them. A `.` would split the subject, a space
    breaks the protocol line, `*` and `>` are wildcards: any of them stops the event at the
    stream. The message names the rule, never the value."""
    if not value or len(value) > SUBJECT_TOKEN_MAX or not _SUBJECT_TOKEN.fullmatch(value):
        return (
            f"an id has 1 to {SUBJECT_TOKEN_MAX} characters, each an ASCII letter, a digit, "
            "`-` or `_` (no `.`, space, `*`, `>` or control character)"
        )
    return None


def _subject_token(value: str) -> str:
    problem = subject_token_problem(value)
    if problem:
        raise PydanticCustomError(SUBJECT_TOKEN_RULE, problem)
    return value


SubjectToken = Annotated[
    str,
    Field(description="An id that may travel in a NATS subject: letters, digits, `-`, `_`"),
    AfterValidator(_subject_token),
]
"""An id that becomes a token of a NATS subject (a resource id): validated wherever it comes in."""
Adcode = Annotated[
    str, Field(description="Administrative division code"), AfterValidator(_existing_adcode)
]


class GeoPoint(BaseModel):
    """A point in China. Given in GCJ-02 or BD-09 (as Chinese map apps show), it is stored as
    WGS-84: after validation `lat`/`lon` are WGS-84 and `crs` says so."""

    lat: Latitude
    lon: Longitude
    crs: geo.Crs = Field(geo.Crs.WGS84, description="wgs84, gcj02 (高德/腾讯) or bd09 (百度)")

    @model_validator(mode="after")
    def _to_wgs84_in_china(self) -> "GeoPoint":
        if not geo.in_china(self.lat, self.lon):
            raise PydanticCustomError(
                "outside_china",
                "the point lies outside China",
            )
        if self.crs is not geo.Crs.WGS84:
            self.lat, self.lon = geo.to_wgs84(self.lat, self.lon, self.crs)
            self.crs = geo.Crs.WGS84
        return self

"""Field types every contract shares, each validated with a named rule."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from shared import divisions, geo, taxonomy

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
"""Every float of a contract: JSON has no NaN or Infinity, and one NaN poisons every comparison
(a distance, a score, a radius); the rule named in the 422 is `finite_number`."""

Latitude = Annotated[FiniteFloat, Field(ge=-90, le=90, description="WGS-84 latitude")]
Longitude = Annotated[FiniteFloat, Field(ge=-180, le=180, description="WGS-84 longitude")]
Urgency = Annotated[int, Field(ge=1, le=5, description="1 = can wait, 5 = today")]


def _known_category(code: str) -> str:
    if not taxonomy.is_known(code):
        raise PydanticCustomError("unknown_category", "not a category of the taxonomy")
    return code


def _existing_adcode(code: str) -> str:
    if not divisions.is_well_formed(code):
        raise PydanticCustomError("adcode_format", "an adcode has 6, 9 or 12 digits")
    if not divisions.exists(code):
        raise PydanticCustomError("unknown_adcode", "no administrative division has this code")
    return code


CategoryCode = Annotated[
    str, Field(max_length=64, description="Taxonomy code"), AfterValidator(_known_category)
]
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

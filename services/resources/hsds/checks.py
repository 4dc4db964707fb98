"""What an HSDS record from another directory may lack, and what is refused.

A service without a Lianjie category, a service area in Lianjie's terms or a capacity comes in
as a draft (inactive: the matcher never ranks it) that a coordinator completes; its categories
are suggested from its taxonomy terms and text. Malformed phones, impossible values (an age
below 0 or minimum above maximum, a count below 0) and coordinates outside China are refused,
each naming its field and rule.
"""

import re
from typing import Any, TypeGuard

from pydantic import Field, ValidationError, model_validator

from services.resources.schemas import CapacityIn, ResourceCreate
from shared import geo, taxonomy
from shared.contracts.common import CategoryCode
from shared.contracts.resources import MAX_CAPACITY_UNITS
from shared.errors import FieldError, field_errors

Json = dict[str, Any]
PHONE = re.compile(r"^\+?[0-9()][0-9 ().-]{4,30}$")
MAX_AGE = 150
DRAFTABLE = ("categories", "service_area", "capacity")
MASK = "*"


def phone_digits(number: Any) -> Any:
    """A phone as Lianjie keeps it: brackets and dots taken out (`(0831) 712.3456` →
    `0831 7123456`); anything else left for the rules to judge."""
    if not isinstance(number, str):
        return number
    return re.sub(r"[().]", "", number).strip() or None


def refused(service: Json) -> list[FieldError]:
    """Every field of the service that cannot come in, with its rule and why."""
    errors = []
    for path, phone in _phones(service, "", []):
        number = phone.get("number")
        if isinstance(number, str) and MASK in number:
            continue  # a masked export read back: the import keeps the stored number
        if not isinstance(number, str) or not PHONE.match(number.strip()):
            errors.append(FieldError(f"{path}.number", "malformed_phone", "not a phone number"))
    for key in ("minimum_age", "maximum_age"):
        age = service.get(key)
        if age is not None and (not _number(age) or not 0 <= age <= MAX_AGE):
            errors.append(FieldError(key, "impossible_value", f"an age from 0 to {MAX_AGE}"))
    low, high = service.get("minimum_age"), service.get("maximum_age")
    if _number(low) and _number(high) and low > high:
        errors.append(FieldError("minimum_age", "impossible_value", "above maximum_age"))
    for i, capacity in enumerate(service.get("capacities") or []):
        if i == 0:
            continue  # read into Lianjie's capacity: judged by its rules (capacity.*)
        for key in ("available", "maximum"):
            value = capacity.get(key)
            if value is not None and (not _number(value) or value < 0):
                errors.append(
                    FieldError(f"capacities.{i}.{key}", "impossible_value", "a count, 0 or more")
                )
    for i, sal in enumerate(service.get("service_at_locations") or []):
        errors += _place(sal.get("location") or {}, f"service_at_locations.{i}.location")
    return errors


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _place(location: Json, path: str) -> list[FieldError]:
    lat, lon = location.get("latitude"), location.get("longitude")
    if lat is None and lon is None:
        return []
    if not (_number(lat) and _number(lon)):
        return [FieldError(f"{path}.latitude", "impossible_value", "give latitude and longitude")]
    problem = geo.lat_lon_problem(lat, lon)
    if problem is not None:
        field = "latitude" if problem[0] == "lat" else "longitude"
        return [FieldError(f"{path}.{field}", "impossible_value", problem[2])]
    if not geo.in_china(lat, lon):
        return [FieldError(f"{path}.latitude", "outside_china", f"({lat}, {lon}) is outside China")]
    return []


def _phones(value: Any, path: str, found: list[tuple[str, Json]]) -> list[tuple[str, Json]]:
    """Every phone in the document (a service's, its locations', contacts', organization's)."""
    if isinstance(value, dict):
        for key, child in value.items():
            where = f"{path}.{key}" if path else key
            if key == "phones" and isinstance(child, list):
                found += [(f"{where}.{i}", p) for i, p in enumerate(child) if isinstance(p, dict)]
            else:
                _phones(child, where, found)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            _phones(child, f"{path}.{i}", found)
    return found


class CapacityDraft(CapacityIn):
    total: int | None = Field(None, ge=0, le=MAX_CAPACITY_UNITS)  # type: ignore[assignment]


class ResourceDraft(ResourceCreate):
    """A resource from another directory before a coordinator completes it: categories,
    service area and capacity may be missing; every other rule holds."""

    categories: list[CategoryCode] = Field(default_factory=list, max_length=20)
    capacity: CapacityDraft = Field(default_factory=CapacityDraft)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _has_service_area(self) -> "ResourceDraft":
        return self  # a draft may lack it

    def missing(self) -> list[str]:
        """What the coordinator must still give."""
        absent = {
            "categories": not self.categories,
            "service_area": self.radius_km is None and not self.adcodes,
            "capacity": self.capacity.total is None,
        }
        return [name for name in DRAFTABLE if absent[name]]

    def as_create(self) -> ResourceCreate:
        """The draft as a resource body (capacity 0 until given), without validating again."""
        fields = {name: getattr(self, name) for name in ResourceCreate.model_fields}
        fields["capacity"] = CapacityIn.model_construct(
            total=self.capacity.total or 0,
            unit=self.capacity.unit,
            period=self.capacity.period,
            mode=self.capacity.mode,
        )
        return ResourceCreate.model_construct(**fields)


def draft_of(body: Json) -> tuple[ResourceCreate, list[str]] | list[FieldError]:
    """The body as a draft and what it lacks; or, when it breaks a rule a draft must keep too,
    those errors."""
    try:
        draft = ResourceDraft.model_validate(body)
    except ValidationError as exc:
        return field_errors(list(exc.errors()))
    return draft.as_create(), draft.missing()


def suggest_categories(service: Json) -> list[str]:
    """Lianjie categories the service's taxonomy terms and text name (sub-categories first)."""
    texts = [str(service.get(k) or "") for k in ("name", "alternate_name", "description")]
    for attribute in service.get("attributes") or []:
        term = attribute.get("taxonomy_term") or {}
        texts += [str(term.get(k) or "") for k in ("code", "name", "description")]
    text = " ".join(texts).lower()
    found: list[str] = []
    for category in sorted(taxonomy.CATEGORIES.values(), key=lambda c: c.parent is None):
        named = category.zh in text or category.en.lower() in text
        if named and not any(code.startswith(category.code + ".") for code in found):
            found.append(category.code)
    return found

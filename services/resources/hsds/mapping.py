"""One resource ⇄ one HSDS 3.x compiled `service`.

A resource is one HSDS `service` with its `organization`, one physical `location` (by
`service_at_location`), `service_area`s, `schedule`s, `phone`s and `contact`s, a 3.1
`service_capacity` (available, maximum, unit) and `attribute`s pointing at `taxonomy_term`s:

| Lianjie | HSDS |
|---|---|
| categories | attribute → taxonomy_term, taxonomy `lianjie-category` (code = taxonomy code) |
| kind | attribute → taxonomy `lianjie-resource-kind` (absent: `charity`) |
| eligible_groups | attribute → taxonomy `lianjie-eligible-group` |
| capacity period | attribute → taxonomy `lianjie-capacity-period` |
| capacity mode | attribute → taxonomy `lianjie-capacity-mode` |
| verified | attribute → taxonomy `lianjie-verification`, code `verified` |
| radius_km | service_area, extent_type `text`, extent `radius_km:<km>` |
| adcodes | service_area, extent_type `text`, extent `adcode:<code>` |
| hours | schedule, freq `WEEKLY`, byday `MO,TU`, opens_at/closes_at (China time, +08:00) |
| available_from/until | schedule valid_from/valid_to |
| active | service.status `active` / `inactive` |

A service read from another directory is kept with its resource as read (`hsds_source`): its
export is that document with what Lianjie changed since written over it, so fields Lianjie does
not model (ids, addresses, further phones, languages, programs, fundings, …) come back as they
came in. Nothing in an export is null: an absent value is left out, as the schemas want.
"""

import copy
import uuid
from datetime import UTC, date, datetime
from typing import Any

from services.resources.hsds import checks
from services.resources.models import Resource
from shared import divisions, taxonomy
from shared.contracts.vocabulary import CAPACITY_UNITS
from shared.masking import mask_name, mask_phone

NAMESPACE = uuid.UUID("6f1f3c1e-6b7a-4f43-9a55-6c69616e6a69")
CATEGORY = "lianjie-category"
KIND = "lianjie-resource-kind"
GROUP = "lianjie-eligible-group"
PERIOD = "lianjie-capacity-period"
MODE = "lianjie-capacity-mode"
VERIFICATION = "lianjie-verification"
OUR_TAXONOMIES = {CATEGORY, KIND, GROUP, PERIOD, MODE, VERIFICATION}
TAXONOMY_NAMES = {
    CATEGORY: "链接服务类别 Lianjie service category",
    KIND: "资源类型 Lianjie resource kind",
    GROUP: "服务对象 Lianjie eligible group",
    PERIOD: "容量周期 Lianjie capacity period",
    MODE: "满额处理 Lianjie capacity mode",
    VERIFICATION: "核实状态 Lianjie verification",
}
BYDAY = {"mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH", "fri": "FR", "sat": "SA", "sun": "SU"}
DAY_OF = {v: k for k, v in BYDAY.items()}
CHINA_TIME = "+08:00"
# The service fields Lianjie reads into a resource (the rest of a service is kept as read).
MAPPED = [
    "id", "name", "description", "status", "organization.name", "service_at_locations.location",
    "service_areas", "schedules", "phones.number", "contacts.name", "capacities", "attributes",
]  # fmt: skip

Json = dict[str, Any]


def _id(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def resource_id_of(service_id: str) -> str:
    """The resource id a service's id maps to: itself, or (too long for ours) a stable UUID,
    so importing again updates the same resource."""
    return service_id if len(service_id) <= 36 else _id("foreign", service_id)


def _term(taxonomy_name: str, code: str, name: str) -> Json:
    category = taxonomy.CATEGORIES.get(code) if taxonomy_name == CATEGORY else None
    description = (
        f"{category.zh} {category.en}" if category else f"{TAXONOMY_NAMES[taxonomy_name]}: {name}"
    )
    return {
        "id": _id("term", taxonomy_name, code),
        "code": code,
        "name": name,
        "description": description,
        "taxonomy": taxonomy_name,
        "language": "zh",
    }


def _attribute(service_id: str, term: Json) -> Json:
    return {
        "id": _id(service_id, "attribute", term["id"]),
        "link_id": service_id,
        "link_type": "service",
        "link_entity": "service",
        "taxonomy_term_id": term["id"],
        "taxonomy_term": term,
    }


def _terms(resource: Resource) -> list[Json]:
    terms = []
    for code in resource.categories:
        category = taxonomy.CATEGORIES.get(code)
        terms.append(_term(CATEGORY, code, category.zh if category else code))
    terms.append(_term(KIND, resource.kind, resource.kind))
    terms += [_term(GROUP, group, group) for group in resource.eligible_groups]
    terms.append(_term(PERIOD, resource.capacity_period, resource.capacity_period))
    terms.append(_term(MODE, resource.capacity_mode, resource.capacity_mode))
    if resource.verified:
        terms.append(_term(VERIFICATION, "verified", "已核实"))
    return terms


def _aware(moment: datetime) -> str:
    """An ISO timestamp with its offset (SQLite hands back naive UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _organization(resource: Resource) -> Json:
    name = resource.organization or resource.name
    return {"id": _id("organization", name), "name": name, "description": name}


def _location(resource: Resource) -> Json:
    return {
        "id": _id(resource.id, "location"),
        "location_type": "physical",
        "name": resource.name,
        "latitude": resource.lat,
        "longitude": resource.lon,
    }


def _service_areas(resource: Resource, sid: str) -> list[Json]:
    areas = []
    if resource.radius_km is not None:
        areas.append((f"半径{resource.radius_km:g}公里", f"radius_km:{resource.radius_km!r}"))
    for code in resource.adcodes:
        division = divisions.get(code[:6])
        areas.append((division.name if division else code, f"adcode:{code}"))
    return [
        {
            "id": _id(sid, "service_area", extent),
            "service_id": sid,
            "name": name,
            "extent": extent,
            "extent_type": "text",
        }
        for name, extent in areas
    ]


def _schedules(resource: Resource, sid: str) -> list[Json]:
    dates = {
        "valid_from": _date(resource.available_from),
        "valid_to": _date(resource.available_until),
    }
    schedules = [
        {
            "id": _id(sid, "schedule", i),
            "service_id": sid,
            "freq": "WEEKLY",
            "byday": BYDAY[h["day"]],
            "opens_at": h["opens"] + CHINA_TIME,
            "closes_at": h["closes"] + CHINA_TIME,
            **dates,
        }
        for i, h in enumerate(resource.hours)
    ]
    if not schedules and (resource.available_from or resource.available_until):
        schedules.append({"id": _id(sid, "schedule", "dates"), "service_id": sid, **dates})
    return schedules


def _capacity(resource: Resource, sid: str) -> Json:
    unit = {
        "id": _id("unit", resource.capacity_unit),
        "name": resource.capacity_unit,
        "scheme": "lianjie",
        "identifier": resource.capacity_unit,
    }
    return {
        "id": _id(sid, "service_capacity"),
        "service_id": sid,
        "unit_id": unit["id"],
        "unit": unit,
        "available": resource.capacity_remaining,
        "maximum": resource.capacity_total,
        "updated": _aware(resource.updated_at),
    }


def generated_service(resource: Resource) -> Json:
    """The resource as an HSDS 3.1 compiled service, from Lianjie's fields alone."""
    sid = resource.id
    organization = _organization(resource)
    location = _location(resource)
    service: Json = {
        "id": sid,
        "organization_id": organization["id"],
        "name": resource.name,
        "description": resource.description,
        "status": "active" if resource.active else "inactive",
        "eligibility_description": "、".join(resource.eligible_groups) or None,
        "organization": organization,
        "service_at_locations": [
            {
                "id": _id(sid, "service_at_location"),
                "service_id": sid,
                "location_id": location["id"],
                "location": location,
            }
        ],
        "service_areas": _service_areas(resource, sid),
        "schedules": _schedules(resource, sid),
        "phones": (
            [{"id": _id(sid, "phone"), "service_id": sid, "number": resource.contact_phone}]
            if resource.contact_phone
            else []
        ),
        "contacts": (
            [{"id": _id(sid, "contact"), "service_id": sid, "name": resource.contact_name}]
            if resource.contact_name
            else []
        ),
        "capacities": [] if resource.draft else [_capacity(resource, sid)],
        "attributes": [_attribute(sid, term) for term in _terms(resource)],
    }
    return without_nulls(service)


def service_document(resource: Resource) -> Json:
    """The resource as an HSDS service: the document it was read from (if any) with what
    Lianjie changed since written over it; else the generated one."""
    generated = generated_service(resource)
    kept = resource.hsds_source
    if not kept:
        return generated
    service: Json = copy.deepcopy(kept["service"])
    sid = str(service.get("id") or resource.id)
    was, now = kept["as_read"], _now_as_row(resource)
    for key in ("name", "description"):
        if now["data"][key] != was["data"][key]:
            service[key] = generated[key]
    if now["active"] != was["active"]:
        service["status"] = generated["status"]
    if now["data"]["organization"] != was["data"]["organization"]:
        service["organization"] = {
            **(service.get("organization") or {}),
            "name": _organization(resource)["name"],
        }
        service["organization_id"] = (
            service["organization"].get("id") or generated["organization_id"]
        )
        service["organization"].setdefault("id", service["organization_id"])
    if now["data"]["location"] != was["data"]["location"]:
        _move(service, resource, generated)
    _replace_ours(service, generated, now, was, sid)
    return without_nulls(service)


def _move(service: Json, resource: Resource, generated: Json) -> None:
    for sal in service.get("service_at_locations") or []:
        place = sal.get("location") or {}
        if place.get("latitude") is not None:
            place["latitude"], place["longitude"] = resource.lat, resource.lon
            return
    service.setdefault("service_at_locations", []).extend(generated["service_at_locations"])


def _replace_ours(service: Json, generated: Json, now: Json, was: Json, sid: str) -> None:
    """Service areas, schedules, attributes, contact and capacity: where Lianjie's value differs
    from what the source says, Lianjie's form replaces the source's (only Lianjie's own
    taxonomies and extents: the others stay)."""
    data_now, data_was = now["data"], was["data"]
    if (data_now["radius_km"], data_now["adcodes"]) != (data_was["radius_km"], data_was["adcodes"]):
        kept = [a for a in service.get("service_areas") or [] if not _ours_extent(a)]
        service["service_areas"] = kept + _relinked(generated["service_areas"], sid)
    if [data_now[k] for k in ("hours", "available_from", "available_until")] != [
        data_was[k] for k in ("hours", "available_from", "available_until")
    ]:
        service["schedules"] = _relinked(generated["schedules"], sid)
    lianjie_terms = ("categories", "kind", "eligible_groups", "verified")
    capacity_terms = ("period", "mode")
    if [data_now[k] for k in lianjie_terms] != [data_was[k] for k in lianjie_terms] or [
        data_now["capacity"][k] for k in capacity_terms
    ] != [data_was["capacity"][k] for k in capacity_terms]:
        kept = [a for a in service.get("attributes") or [] if not _ours_term(a)]
        service["attributes"] = kept + _relinked(generated["attributes"], sid, "link_id")
    if data_now["contact_phone"] != data_was["contact_phone"]:
        _set_first(service, "phones", "number", data_now["contact_phone"], generated, sid)
    if data_now["contact_name"] != data_was["contact_name"]:
        _set_first(service, "contacts", "name", data_now["contact_name"], generated, sid)
    if generated["capacities"] and (
        now["capacity_available"] != was["capacity_available"]
        or data_now["capacity"]["total"] != data_was["capacity"]["total"]
        or data_now["capacity"]["unit"] != data_was["capacity"]["unit"]
    ):
        ours = generated["capacities"][0]
        capacities = service.get("capacities") or []
        if capacities:
            first = capacities[0]
            first.update(
                available=ours["available"], maximum=ours["maximum"], updated=ours["updated"]
            )
            if data_now["capacity"]["unit"] != data_was["capacity"]["unit"]:
                first["unit"], first["unit_id"] = ours["unit"], ours["unit_id"]
        else:
            service["capacities"] = _relinked([ours], sid)


def _relinked(children: list[Json], sid: str, key: str = "service_id") -> list[Json]:
    return [{**child, key: sid} for child in children]


def _set_first(service: Json, key: str, field: str, value: Any, generated: Json, sid: str) -> None:
    children = service.get(key) or []
    if value is None:
        service[key] = children[1:]
    elif children:
        children[0][field] = value
    else:
        service[key] = _relinked(generated[key], sid)


def _ours_extent(area: Json) -> bool:
    return str(area.get("extent") or "").startswith(("radius_km:", "adcode:"))


def _ours_term(attribute: Json) -> bool:
    return (attribute.get("taxonomy_term") or {}).get("taxonomy") in OUR_TAXONOMIES


def keep_source(resource: Resource, service: Json) -> None:
    """Keep the service read into `resource` with it, and Lianjie's values as they were then
    (an export compares against these to see what Lianjie changed since)."""
    resource.hsds_source = {"service": service, "as_read": _now_as_row(resource)}


def _now_as_row(resource: Resource) -> Json:
    """The resource's current values in the shape `row_from_service` reads a service into."""
    return row_from_service(generated_service(resource))


def without_nulls(value: Any) -> Any:
    """`value` with every null (and every object left empty by that) taken out."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value if v is not None]
    return value


def masked(service: Json) -> Json:
    """The service with every phone number and contact person masked (personal data)."""
    if isinstance(service, dict):
        out = {}
        for key, value in service.items():
            if key == "phones" and isinstance(value, list):
                value = [_masked_phone(p) for p in value]
            elif key == "contacts" and isinstance(value, list):
                value = [_masked_contact(c) for c in value]
            out[key] = masked(value)
        return out
    if isinstance(service, list):
        return [masked(v) for v in service]
    return service


def _masked_phone(phone: Any) -> Any:
    if isinstance(phone, dict) and isinstance(phone.get("number"), str):
        return {**phone, "number": mask_phone(phone["number"])}
    return phone


def _masked_contact(contact: Any) -> Any:
    if not isinstance(contact, dict):
        return contact
    out = dict(contact)
    if isinstance(out.get("name"), str):
        out["name"] = mask_name(out["name"])
    if isinstance(out.get("email"), str) and "@" in out["email"]:
        local, domain = out["email"].split("@", 1)
        out["email"] = f"{local[:1]}***@{domain}"
    return out


def _codes(service: Json, taxonomy_name: str) -> list[str]:
    codes = []
    for attribute in service.get("attributes") or []:
        term = attribute.get("taxonomy_term") or {}
        code = str(term.get("code") or "")
        if term.get("taxonomy") == taxonomy_name:
            codes.append(code)
        elif taxonomy_name == CATEGORY and not term.get("taxonomy") and taxonomy.is_known(code):
            codes.append(code)  # a bare term whose code is a Lianjie category
    return codes


def _hours(service: Json) -> tuple[list[dict[str, str]], Any, Any]:
    hours, valid_from, valid_to = [], None, None
    for schedule in service.get("schedules") or []:
        valid_from = valid_from or schedule.get("valid_from")
        valid_to = valid_to or schedule.get("valid_to")
        for day in str(schedule.get("byday") or "").split(","):
            if day.strip() and schedule.get("opens_at") and schedule.get("closes_at"):
                hours.append(
                    {
                        "day": DAY_OF.get(day.strip().upper(), day.strip()),
                        "opens": str(schedule["opens_at"])[:5],
                        "closes": str(schedule["closes_at"])[:5],
                    }
                )
    return hours, valid_from, valid_to


def row_from_service(service: Json, position: int = 1) -> Json:
    """An import row (see `importing.ImportRow`) from an HSDS compiled service."""
    sid = str(service.get("id") or "")
    organization = service.get("organization") or {}
    org_name = organization.get("name")
    places = [sal.get("location") or {} for sal in service.get("service_at_locations") or []]
    place = next((p for p in places if p.get("latitude") is not None), {})
    radius, adcodes = None, []
    for area in service.get("service_areas") or []:
        extent = str(area.get("extent") or "")
        if extent.startswith("radius_km:"):
            radius = extent.split(":", 1)[1]
        elif extent.startswith("adcode:"):
            adcodes.append(extent.split(":", 1)[1])
    hours, valid_from, valid_to = _hours(service)
    capacity: Json = next(iter(service.get("capacities") or []), {})
    named_unit = (capacity.get("unit") or {}).get("identifier") or (capacity.get("unit") or {}).get(
        "name"
    )
    # A unit Lianjie does not count in leaves the capacity to the coordinator (a draft); the
    # directory's own stays in the source document, so an export gives it back.
    unit = CAPACITY_UNITS.code_of(named_unit) if named_unit else "persons"
    phones = service.get("phones") or []
    contacts = service.get("contacts") or []
    body = {
        "name": service.get("name") or "",
        "kind": next(iter(_codes(service, KIND)), "charity"),
        "organization": org_name if org_name and org_name != service.get("name") else None,
        "categories": _codes(service, CATEGORY),
        "description": service.get("description") or "",
        "location": {"lat": place.get("latitude"), "lon": place.get("longitude")},
        "radius_km": radius,
        "adcodes": adcodes,
        "eligible_groups": _codes(service, GROUP),
        "capacity": {
            "total": capacity.get("maximum") if unit else None,
            "unit": unit or "persons",
            "period": next(iter(_codes(service, PERIOD)), "month"),
            "mode": next(iter(_codes(service, MODE)), "capacity"),
        },
        "hours": hours,
        "available_from": valid_from,
        "available_until": valid_to,
        "contact_name": next((c.get("name") for c in contacts if c.get("name")), None),
        "contact_phone": checks.phone_digits(
            next((p.get("number") for p in phones if p.get("number")), None)
        ),
        "verified": "verified" in _codes(service, VERIFICATION),
    }
    available = capacity.get("available")
    return {
        "ref": f"service {sid or position}",
        "resource_id": resource_id_of(sid) if sid else None,
        "active": service.get("status", "active") == "active",
        "capacity_available": available if isinstance(available, int) else None,  # a count
        "data": body,
    }

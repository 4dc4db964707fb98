"""Open Referral HSDS 3.x ⇄ Lianjie resources: JSON (compiled services) and the tabular data
package (one CSV per table + datapackage.json, zipped).

One Lianjie resource is one HSDS `service` with its `organization`, one physical `location`
(by `service_at_location`), `service_area`s, `schedule`s, `phone`s and `contact`s, a 3.1
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
| hours | schedule, freq `WEEKLY`, byday `MO,TU`, opens_at/closes_at |
| available_from/until | schedule valid_from/valid_to |
| active | service.status `active` / `inactive` |
"""

import csv
import io
import json
import uuid
import zipfile
from collections import defaultdict
from typing import Any

from services.resources.models import Resource
from shared import divisions, taxonomy

NAMESPACE = uuid.UUID("6f1f3c1e-6b7a-4f43-9a55-6c69616e6a69")
CATEGORY = "lianjie-category"
KIND = "lianjie-resource-kind"
GROUP = "lianjie-eligible-group"
PERIOD = "lianjie-capacity-period"
MODE = "lianjie-capacity-mode"
VERIFICATION = "lianjie-verification"
BYDAY = {"mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH", "fri": "FR", "sat": "SA", "sun": "SU"}
DAY_OF = {v: k for k, v in BYDAY.items()}

Json = dict[str, Any]


def _id(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def _term(taxonomy_name: str, code: str, name: str) -> Json:
    return {
        "id": _id("term", taxonomy_name, code),
        "code": code,
        "name": name,
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


def service_from_resource(resource: Resource) -> Json:
    """One resource as an HSDS 3.1 compiled service."""
    sid = resource.id
    org_name = resource.organization or resource.name
    organization = {"id": _id("organization", org_name), "name": org_name, "description": ""}
    location = {
        "id": _id(sid, "location"),
        "location_type": "physical",
        "name": resource.name,
        "latitude": resource.lat,
        "longitude": resource.lon,
    }
    areas = []
    if resource.radius_km is not None:
        areas.append((f"半径{resource.radius_km:g}公里", f"radius_km:{resource.radius_km!r}"))
    for code in resource.adcodes:
        division = divisions.get(code[:6])
        areas.append((division.name if division else code, f"adcode:{code}"))
    schedules = [
        {
            "id": _id(sid, "schedule", i),
            "service_id": sid,
            "freq": "WEEKLY",
            "byday": BYDAY[h["day"]],
            "opens_at": h["opens"],
            "closes_at": h["closes"],
            "valid_from": _date(resource.available_from),
            "valid_to": _date(resource.available_until),
        }
        for i, h in enumerate(resource.hours)
    ]
    if not schedules and (resource.available_from or resource.available_until):
        schedules.append(
            {
                "id": _id(sid, "schedule", "dates"),
                "service_id": sid,
                "valid_from": _date(resource.available_from),
                "valid_to": _date(resource.available_until),
            }
        )
    unit = {
        "id": _id("unit", resource.capacity_unit),
        "name": resource.capacity_unit,
        "scheme": "lianjie",
        "identifier": resource.capacity_unit,
    }
    return {
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
        "service_areas": [
            {
                "id": _id(sid, "service_area", extent),
                "service_id": sid,
                "name": name,
                "extent": extent,
                "extent_type": "text",
            }
            for name, extent in areas
        ],
        "schedules": schedules,
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
        "capacities": [
            {
                "id": _id(sid, "service_capacity"),
                "service_id": sid,
                "unit_id": unit["id"],
                "unit": unit,
                "available": resource.capacity_remaining,
                "maximum": resource.capacity_total,
                "updated": resource.updated_at.isoformat(),
            }
        ],
        "attributes": [_attribute(sid, term) for term in _terms(resource)],
    }


def _date(value: Any) -> str | None:
    return value.isoformat() if value else None


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


def rows_from_services(services: list[Json]) -> list[Json]:
    """Import rows (see `importing.ImportRow`) from HSDS compiled services."""
    return [_row(i, service) for i, service in enumerate(services, start=1)]


def _row(position: int, service: Json) -> Json:
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
    capacity: Json = next(iter(service.get("capacities") or []), {})
    unit = capacity.get("unit") or {}
    phones = service.get("phones") or []
    contacts = service.get("contacts") or []
    kind = next(iter(_codes(service, KIND)), "charity")
    body = {
        "name": service.get("name") or "",
        "kind": kind,
        "organization": org_name if org_name and org_name != service.get("name") else None,
        "categories": _codes(service, CATEGORY),
        "description": service.get("description") or "",
        "location": {"lat": place.get("latitude"), "lon": place.get("longitude")},
        "radius_km": radius,
        "adcodes": adcodes,
        "eligible_groups": _codes(service, GROUP),
        "capacity": {
            "total": capacity.get("maximum", 0),
            "unit": unit.get("identifier") or unit.get("name") or "persons",
            "period": next(iter(_codes(service, PERIOD)), "month"),
            "mode": next(iter(_codes(service, MODE)), "capacity"),
        },
        "hours": hours,
        "available_from": valid_from,
        "available_until": valid_to,
        "contact_name": next((c.get("name") for c in contacts if c.get("name")), None),
        "contact_phone": next((p.get("number") for p in phones if p.get("number")), None),
        "verified": "verified" in _codes(service, VERIFICATION),
    }
    available = capacity.get("available")
    return {
        "ref": f"service {sid or position}",
        # A foreign id too long for ours maps to a stable UUID, so importing again updates.
        "resource_id": (sid if len(sid) <= 36 else _id("foreign", sid)) if sid else None,
        "active": service.get("status", "active") == "active",
        "capacity_available": available if isinstance(available, int) else None,  # a count
        "data": body,
    }


def write_json(services: list[Json]) -> bytes:
    """Compiled services as an HSDS JSON array."""
    return json.dumps(services, ensure_ascii=False, indent=2).encode("utf-8")


def read_json(content: bytes) -> list[Json]:
    """Compiled services from HSDS JSON: an array, one service, or {"services": [...]}."""
    data = json.loads(content.decode("utf-8-sig"))
    if isinstance(data, dict):
        data = data.get("services", [data])
    return [s for s in data if isinstance(s, dict)]


# The tabular form: which nested list of a service goes to which table.
CHILD_TABLES = {
    "service_at_locations": "service_at_location",
    "service_areas": "service_area",
    "schedules": "schedule",
    "phones": "phone",
    "contacts": "contact",
    "capacities": "service_capacity",
    "attributes": "attribute",
}
TABLES = ["organization", "service", "location", "taxonomy_term", "unit", *CHILD_TABLES.values()]


def to_tables(services: list[Json]) -> dict[str, list[Json]]:
    """Flatten compiled services into HSDS tables (rows keyed by id, nested objects split out)."""
    tables: dict[str, dict[str, Json]] = defaultdict(dict)
    for service in services:
        flat = {k: v for k, v in service.items() if k != "organization" and k not in CHILD_TABLES}
        tables["service"][service["id"]] = flat
        if service.get("organization"):
            tables["organization"][service["organization"]["id"]] = service["organization"]
        for key, table in CHILD_TABLES.items():
            for child in service.get(key) or []:
                row = dict(child)
                for nested, nested_table in (
                    ("location", "location"),
                    ("taxonomy_term", "taxonomy_term"),
                    ("unit", "unit"),
                ):
                    if isinstance(row.get(nested), dict):
                        inner = row.pop(nested)
                        tables[nested_table][inner["id"]] = inner
                tables[table][row["id"]] = row
    return {name: list(tables[name].values()) for name in TABLES}


def from_tables(tables: dict[str, list[Json]]) -> list[Json]:
    """Compiled services from HSDS tables (joined by id)."""
    by_id = {name: {str(r.get("id")): r for r in tables.get(name, [])} for name in TABLES}
    services = []
    for flat in tables.get("service", []):
        service = dict(flat)
        sid = str(service.get("id"))
        service["organization"] = by_id["organization"].get(str(service.get("organization_id")))
        for key, table in CHILD_TABLES.items():
            children = []
            for row in tables.get(table, []):
                owner = row.get("link_id") if table == "attribute" else row.get("service_id")
                if str(owner) != sid:
                    continue
                child = dict(row)
                if child.get("location_id"):
                    child["location"] = by_id["location"].get(str(child["location_id"]))
                if child.get("taxonomy_term_id"):
                    child["taxonomy_term"] = by_id["taxonomy_term"].get(child["taxonomy_term_id"])
                if child.get("unit_id"):
                    child["unit"] = by_id["unit"].get(str(child["unit_id"]))
                children.append(child)
            service[key] = children
        services.append(service)
    return services


NUMBERS = {"latitude", "longitude", "available", "maximum"}


def _csv(rows: list[Json], fields: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in fields})
    return out.getvalue()


def _fields(rows: list[Json]) -> list[str]:
    fields: list[str] = ["id"]
    for row in rows:
        fields += [k for k in row if k not in fields and not isinstance(row[k], (dict, list))]
    return fields


def write_package(services: list[Json]) -> bytes:
    """A zipped HSDS tabular data package: one CSV per table and its datapackage.json."""
    tables = to_tables(services)
    buffer = io.BytesIO()
    resources = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in tables.items():
            fields = _fields(rows)
            archive.writestr(f"{name}.csv", _csv(rows, fields))
            types = {f: "number" if f in NUMBERS else "string" for f in fields}
            resources.append(
                {
                    "name": name,
                    "path": f"{name}.csv",
                    "profile": "tabular-data-resource",
                    "format": "csv",
                    "mediatype": "text/csv",
                    "encoding": "utf-8",
                    "schema": {
                        "fields": [{"name": f, "type": t} for f, t in types.items()],
                        "primaryKey": "id",
                    },
                }
            )
        package = {
            "name": "lianjie-hsds",
            "profile": "tabular-data-package",
            "title": "Lianjie resource library (HSDS 3.1)",
            "resources": resources,
        }
        archive.writestr("datapackage.json", json.dumps(package, ensure_ascii=False, indent=2))
    return buffer.getvalue()


def read_package(content: bytes) -> list[Json]:
    """Compiled services from a zipped HSDS tabular data package."""
    tables: dict[str, list[Json]] = {}
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = {n.rsplit("/", 1)[-1]: n for n in archive.namelist()}
        paths = {t: f"{t}.csv" for t in TABLES}
        if "datapackage.json" in names:
            package = json.loads(archive.read(names["datapackage.json"]).decode("utf-8-sig"))
            for resource in package.get("resources", []):
                if resource.get("name") in paths and resource.get("path"):
                    paths[resource["name"]] = str(resource["path"]).rsplit("/", 1)[-1]
        for table, path in paths.items():
            if path in names:
                text = archive.read(names[path]).decode("utf-8-sig")
                tables[table] = [_typed(row) for row in csv.DictReader(io.StringIO(text))]
    return from_tables(tables)


def _typed(row: dict[str, str]) -> Json:
    typed: Json = {}
    for key, value in row.items():
        if value == "":
            typed[key] = None
        elif key in NUMBERS:
            typed[key] = int(value) if value.lstrip("-").isdigit() else _float(value)
        else:
            typed[key] = value
    return typed


def _float(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value  # the model names the broken rule

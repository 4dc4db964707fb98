"""The forms HSDS 3 data comes in, read into compiled services; and the forms an export takes.

Read: one service, organization (with its `services`) or service_at_location (with its
`service`); a paginated list (`contents`, with `total_items`, `page_number`, …) or a bare array
of any of those; a tabular data package (one CSV per table, named as the spec names them —
`services.csv`, `organizations.csv`, `service_at_locations.csv`, … — singular names accepted
too; `datapackage.json` optional, its paths win). Written: the paginated list shape and the
tabular package with its `datapackage.json`.
"""

import csv
import io
import json
import zipfile
from typing import Any

from shared.errors import ValidationFailed

Json = dict[str, Any]

# Table → the file name the spec gives it (others accepted: `<table>.csv`, `<table>s.csv`).
FILES = {
    "organization": "organizations.csv",
    "program": "programs.csv",
    "service": "services.csv",
    "service_at_location": "service_at_locations.csv",
    "location": "locations.csv",
    "address": "addresses.csv",
    "phone": "phones.csv",
    "contact": "contacts.csv",
    "schedule": "schedules.csv",
    "service_area": "service_areas.csv",
    "language": "languages.csv",
    "funding": "funding.csv",
    "cost_option": "cost_options.csv",
    "required_document": "required_documents.csv",
    "accessibility": "accessibility.csv",
    "attribute": "attributes.csv",
    "taxonomy_term": "taxonomy_terms.csv",
    "taxonomy": "taxonomies.csv",
    "metadata": "metadata.csv",
    "organization_identifier": "organization_identifiers.csv",
    "service_capacity": "service_capacity.csv",
    "unit": "units.csv",
    "url": "url.csv",
}
TABLES = list(FILES)
ALIASES = {"address": ["addresss.csv"], "accessibility": ["accessibilitys.csv"]}

# (parent table, list key, child table, the child's column naming its parent)
LISTS = [
    ("organization", "organization_identifiers", "organization_identifier", "organization_id"),
    ("organization", "programs", "program", "organization_id"),
    ("organization", "contacts", "contact", "organization_id"),
    ("organization", "locations", "location", "organization_id"),
    ("organization", "fundings", "funding", "organization_id"),
    ("organization", "phones", "phone", "organization_id"),
    ("organization", "additional_websites", "url", "organization_id"),
    ("service", "service_at_locations", "service_at_location", "service_id"),
    ("service", "service_areas", "service_area", "service_id"),
    ("service", "schedules", "schedule", "service_id"),
    ("service", "phones", "phone", "service_id"),
    ("service", "contacts", "contact", "service_id"),
    ("service", "languages", "language", "service_id"),
    ("service", "fundings", "funding", "service_id"),
    ("service", "required_documents", "required_document", "service_id"),
    ("service", "cost_options", "cost_option", "service_id"),
    ("service", "capacities", "service_capacity", "service_id"),
    ("service", "additional_urls", "url", "service_id"),
    ("service_at_location", "phones", "phone", "service_at_location_id"),
    ("service_at_location", "contacts", "contact", "service_at_location_id"),
    ("service_at_location", "schedules", "schedule", "service_at_location_id"),
    ("location", "addresses", "address", "location_id"),
    ("location", "phones", "phone", "location_id"),
    ("location", "accessibility", "accessibility", "location_id"),
    ("location", "contacts", "contact", "location_id"),
    ("location", "schedules", "schedule", "location_id"),
    ("location", "languages", "language", "location_id"),
    ("contact", "phones", "phone", "contact_id"),
    ("phone", "languages", "language", "phone_id"),
]
# (table, key, referenced table, the column on the table naming it)
REFS = [
    ("service", "organization", "organization", "organization_id"),
    ("service", "program", "program", "program_id"),
    ("service_at_location", "location", "location", "location_id"),
    ("attribute", "taxonomy_term", "taxonomy_term", "taxonomy_term_id"),
    ("taxonomy_term", "taxonomy_detail", "taxonomy", "taxonomy_id"),
    ("service_capacity", "unit", "unit", "unit_id"),
]
# Attributes and metadata belong to any table, named by (link_id, link_entity) and
# (resource_id, resource_type).
LINKED = [("attributes", "attribute", "link_id", "link_entity")]
LINKED += [("metadata", "metadata", "resource_id", "resource_type")]
NUMBERS = {
    "latitude", "longitude", "available", "maximum", "minimum_age", "maximum_age",
    "year_incorporated", "extension", "timezone", "interval", "bymonthday", "byyearday", "amount",
}  # fmt: skip


def _refused(rule: str, message: str) -> ValidationFailed:
    return ValidationFailed.one("file", rule, message)


# ---- JSON -------------------------------------------------------------------------------


def services_of(data: Any) -> list[Json]:
    """Compiled services from parsed HSDS JSON of any form (see the module's docstring)."""
    if isinstance(data, dict) and isinstance(data.get("contents"), list):
        data = data["contents"]  # a page of a list
    elif _is_wrapper(data):
        data = data["services"]
    items = data if isinstance(data, list) else [data]
    services: list[Json] = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise _refused("not_hsds", f"item {position} is not an HSDS object")
        services += _services_in(item, position)
    return services


def _is_wrapper(data: Any) -> bool:
    """`{"services": [...]}`: a wrapper of services, not an organization carrying them."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("services"), list)
        and not {"status", "name", "description"} & set(data)
    )


def kind_of(item: Json) -> str:
    """Which HSDS object `item` is: service, service_at_location or organization."""
    if isinstance(item.get("service"), dict) or (
        "status" not in item
        and "service_id" in item
        and ("location" in item or "location_id" in item)
    ):
        return "service_at_location"
    if {"status", "service_at_locations", "organization", "organization_id"} & set(item):
        return "service"
    return "organization"


def _services_in(item: Json, position: int) -> list[Json]:
    kind = kind_of(item)
    if kind == "service":
        return [item]
    if kind == "service_at_location":
        if not isinstance(item.get("service"), dict):
            message = f"service_at_location {item.get('id', position)} carries no service"
            raise _refused("no_service", message)
        service = dict(item["service"])
        link = {k: v for k, v in item.items() if k != "service"}
        if not any(
            s.get("id") == link.get("id") for s in service.get("service_at_locations") or []
        ):
            service["service_at_locations"] = [*(service.get("service_at_locations") or []), link]
        return [service]
    found = item.get("services")
    if not isinstance(found, list) or not found:
        message = f"organization {item.get('id', position)} carries no services to import"
        raise _refused("no_service", message)
    organization = {k: v for k, v in item.items() if k != "services"}
    return [{"organization": organization, **s} for s in found if isinstance(s, dict)]


def read_json(content: bytes) -> list[Json]:
    """Compiled services from HSDS JSON of any form."""
    return services_of(json.loads(content.decode("utf-8-sig")))


def page(
    items: list[Json], *, total: int | None = None, number: int = 1, size: int | None = None
) -> Json:
    """A page of an HSDS list: `contents` and the paging fields the API reference names."""
    total = len(items) if total is None else total
    size = size or max(len(items), 1)
    pages = max((total + size - 1) // size, 1)
    return {
        "total_items": total,
        "total_pages": pages,
        "page_number": number,
        "size": size,
        "first_page": number == 1,
        "last_page": number >= pages,
        "empty": not items,
        "contents": items,
    }


def write_json(services: list[Json]) -> bytes:
    """Compiled services as one HSDS list (every service on one page)."""
    return json.dumps(page(services), ensure_ascii=False, indent=2).encode("utf-8")


# ---- tabular ----------------------------------------------------------------------------


def to_tables(services: list[Json]) -> dict[str, list[Json]]:
    """Flatten compiled services into HSDS tables: nested objects split out, each child row
    naming its parent (the column the spec gives), rows merged by id."""
    tables: dict[str, dict[str, Json]] = {name: {} for name in TABLES}
    for service in services:
        _flatten("service", service, tables)
    return {name: list(rows.values()) for name, rows in tables.items()}


def _flatten(table: str, item: Json, tables: dict[str, dict[str, Json]]) -> None:
    row = {k: v for k, v in item.items() if not isinstance(v, (dict, list))}
    for parent, key, child_table, column in LISTS:
        if parent == table:
            for child in item.get(key) or []:
                _flatten(child_table, {column: item.get("id"), **child}, tables)
    for key, child_table, column, entity in LINKED:
        for child in item.get(key) or []:
            _flatten(child_table, {column: item.get("id"), entity: table, **child}, tables)
    for owner, key, ref_table, column in REFS:
        if owner == table and isinstance(item.get(key), dict):
            _flatten(ref_table, item[key], tables)
            row.setdefault(column, item[key].get("id"))
    key = str(row.get("id"))
    tables[table][key] = {**tables[table].get(key, {}), **row}


def from_tables(tables: dict[str, list[Json]]) -> list[Json]:
    """Compiled services from HSDS tables, joined by the columns the spec names; a row is
    placed once per service (under the first parent that names it)."""
    by_id = {name: {str(r.get("id")): r for r in tables.get(name, [])} for name in TABLES}
    children: dict[tuple[str, str, str], list[Json]] = {}
    for parent, key, child_table, column in LISTS:
        for row in tables.get(child_table, []):
            if row.get(column) is not None:
                children.setdefault((parent, key, str(row[column])), []).append(row)
    for key, child_table, column, entity in LINKED:
        for row in tables.get(child_table, []):
            if row.get(column) is not None:
                owner = str(row.get(entity) or "service")
                children.setdefault((owner, key, str(row[column])), []).append(row)
    services = []
    for row in tables.get("service", []):
        services.append(_compiled("service", row, by_id, children, set()))
    return services


def _compiled(
    table: str,
    row: Json,
    by_id: dict[str, dict[str, Json]],
    children: dict[tuple[str, str, str], list[Json]],
    placed: set[tuple[str, str]],
) -> Json:
    item = dict(row)
    rid = str(row.get("id"))
    placed.add((table, rid))
    keys = [(key, child) for parent, key, child, _ in LISTS if parent == table]
    keys += [(key, child) for key, child, _, _ in LINKED]
    direct: list[tuple[str, str, list[Json]]] = []
    for key, child_table in keys:  # its own children first, then theirs
        rows = [
            r
            for r in children.get((table, key, rid), [])
            if (child_table, str(r.get("id"))) not in placed
        ]
        placed.update((child_table, str(r.get("id"))) for r in rows)
        if rows:
            direct.append((key, child_table, rows))
    for key, child_table, rows in direct:
        item[key] = [_compiled(child_table, r, by_id, children, placed) for r in rows]
    for owner, key, ref_table, column in REFS:
        target = by_id[ref_table].get(str(row.get(column)))
        if owner == table and target is not None:
            item[key] = _compiled(ref_table, target, by_id, children, placed)
    return item


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
        fields += [k for k in row if k not in fields]
    return fields


def write_package(services: list[Json]) -> bytes:
    """A zipped HSDS tabular data package: one CSV per table (the spec's file names) and its
    datapackage.json."""
    tables = to_tables(services)
    buffer = io.BytesIO()
    resources = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in tables.items():
            fields = _fields(rows)
            archive.writestr(FILES[name], _csv(rows, fields))
            resources.append(
                {
                    "name": name,
                    "path": FILES[name],
                    "profile": "tabular-data-resource",
                    "format": "csv",
                    "mediatype": "text/csv",
                    "encoding": "utf-8",
                    "schema": {
                        "fields": [
                            {"name": f, "type": "number" if f in NUMBERS else "string"}
                            for f in fields
                        ],
                        "primaryKey": "id",
                    },
                }
            )
        package = {
            "name": "lianjie-hsds",
            "profile": "tabular-data-package",
            "title": "链接资源库 Lianjie resource library (HSDS 3.1)",
            "resources": resources,
        }
        archive.writestr("datapackage.json", json.dumps(package, ensure_ascii=False, indent=2))
    return buffer.getvalue()


def read_package(content: bytes) -> list[Json]:
    """Compiled services from a zipped HSDS tabular data package."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = {n.rsplit("/", 1)[-1].lower(): n for n in archive.namelist() if not n.endswith("/")}
        if "[content_types].xml" in names:
            raise _refused("not_hsds", "an Excel workbook, not an HSDS data package (zip of CSV)")
        paths = {t: [FILES[t], f"{t}.csv", f"{t}s.csv", *ALIASES.get(t, [])] for t in TABLES}
        if "datapackage.json" in names:
            package = json.loads(archive.read(names["datapackage.json"]).decode("utf-8-sig"))
            for resource in package.get("resources", []):
                if resource.get("name") in paths and resource.get("path"):
                    paths[resource["name"]].insert(0, str(resource["path"]).rsplit("/", 1)[-1])
        tables: dict[str, list[Json]] = {}
        for table, candidates in paths.items():
            path = next((names[p.lower()] for p in candidates if p.lower() in names), None)
            if path is not None:
                text = archive.read(path).decode("utf-8-sig")
                tables[table] = [_typed(row) for row in csv.DictReader(io.StringIO(text))]
    if not tables.get("service"):
        found = ", ".join(sorted(names)) or "nothing"
        raise _refused("no_service", f"no services.csv with rows in the package (found: {found})")
    return from_tables(tables)


def _typed(row: dict[str, str]) -> Json:
    typed: Json = {}
    for key, value in row.items():
        if key is None or value == "" or value is None:
            continue
        typed[key] = _number(value) if key in NUMBERS else value
    return typed


def _number(value: str) -> float | int | str:
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value  # the rules name what is wrong with it

"""HSDS documents for tests, built from the schema's own properties (every field the spec
defines, filled in), and validation of exports against the HSDS 3.0 and 3.1 schemas."""

import itertools
import json
import uuid
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from jsonschema import Draft202012Validator, FormatChecker

from services.resources.hsds import documents

SCHEMAS = Path(__file__).parent / "hsds_schemas"
VERSIONS = ("3.0", "3.1")
Json = dict[str, Any]

# Values a Lianjie import judges (the rest are filled in from each property's type).
PLAUSIBLE: Json = {
    "latitude": 28.7285,
    "longitude": 105.0668,
    "minimum_age": 60,
    "maximum_age": 100,
    "available": 3,
    "maximum": 10,
    "status": "active",
    "location_type": "physical",
    "address_type": "physical",
    "freq": "WEEKLY",
    "wkst": "MON",
    "byday": "MO,WE",
    "opens_at": "09:00+08:00",
    "closes_at": "17:00+08:00",
    "timezone": 8,
    "extension": 12,
    "year_incorporated": 2011,
    "amount": 5,
    "interval": 1,
    "bymonthday": 2,
    "byyearday": 40,
}
# A list's child names its parent in this column (the tabular form's join).
PARENT_COLUMN = {(parent, key): column for parent, key, _, column in documents.LISTS}
REF_COLUMN = {(table, key): column for table, key, _, column in documents.REFS}


@cache
def schema(version: str) -> Json:
    return json.loads((SCHEMAS / version / "hsds.schema.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _formats() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("uuid", raises=ValueError)
    def _uuid(value: object) -> bool:
        return not isinstance(value, str) or bool(uuid.UUID(value))

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:  # RFC 3339: an offset is required
        return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None

    @checker.checks("date", raises=ValueError)
    def _date(value: object) -> bool:
        return not isinstance(value, str) or bool(date.fromisoformat(value))

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return not isinstance(value, str) or bool(urlparse(value).scheme)

    @checker.checks("email")
    def _email(value: object) -> bool:
        return not isinstance(value, str) or "@" in value

    return checker


def errors(document: Any, shape: str, version: str) -> list[str]:
    """What the `shape` ($defs name: service, service_list, …) of HSDS `version` finds wrong."""
    root = {"$ref": f"#/$defs/{shape}", "$defs": schema(version)["$defs"]}
    validator = Draft202012Validator(root, format_checker=_formats())
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def assert_valid(document: Any, shape: str) -> None:
    """The document validates against HSDS 3.0 and 3.1."""
    for version in VERSIONS:
        found = errors(document, shape, version)
        assert not found, f"HSDS {version} {shape}: {found[:10]}"


def assert_tables_valid(tables: dict[str, list[Json]]) -> None:
    """Each row of each table validates as its object (the tabular form: no nesting)."""
    for version in VERSIONS:
        defs = schema(version)["$defs"]
        for table, rows in tables.items():
            if table not in defs:
                continue  # a 3.1 table is unknown to 3.0
            nested = {
                f"'{name}' is a required property"
                for name, prop in defs[table]["properties"].items()
                if "$ref" in prop or prop.get("type") == "array"
            }  # a table's row names its nested objects by id (the spec's tabular_required)
            for row in rows:
                found = [e for e in errors(row, table, version) if e[2:] not in nested]
                assert not found, f"HSDS {version} {table} row {row.get('id')}: {found[:5]}"


class Builder:
    """Fills in every property of an object of the 3.1 schema (a superset of 3.0's): one child
    in every list, identifiers as UUIDs, children naming their parents."""

    def __init__(self) -> None:
        self.counter = itertools.count(1)

    def build(self, table: str, parent: tuple[str, str, str] | None = None) -> Json:
        """An object of `table`; `parent` = (parent table, key, parent id)."""
        definition = schema("3.1")["$defs"][table]
        n = next(self.counter)
        item: Json = {"id": str(uuid.uuid4())}
        for name, prop in definition["properties"].items():
            if name == "id":
                continue
            if prop.get("type") == "array":
                child = prop["items"]["$ref"].rsplit("/", 1)[-1]
                item[name] = [self.build(child, (table, name, item["id"]))]
            elif "$ref" in prop:
                item[name] = self.build(prop["$ref"].rsplit("/", 1)[-1])
            else:
                item[name] = self._scalar(table, name, prop, n)
        for (owner, key), column in REF_COLUMN.items():
            if owner == table and isinstance(item.get(key), dict):
                item[column] = item[key]["id"]
        if parent is not None:
            owner, key, owner_id = parent
            if key == "attributes":
                item["link_id"], item["link_entity"] = owner_id, owner
            elif key == "metadata":
                item["resource_id"], item["resource_type"] = owner_id, owner
            else:
                item[PARENT_COLUMN[(owner, key)]] = owner_id
        return item

    def _scalar(self, table: str, name: str, prop: Json, n: int) -> Any:
        if name in PLAUSIBLE:
            return PLAUSIBLE[name]
        if table == "unit" and name in ("name", "identifier"):
            return "bed"
        if name in ("valid_from", "valid_to"):
            return "2026-01-01" if name == "valid_from" else "2026-12-31"
        if "enum" in prop:
            return prop["enum"][0]
        if prop.get("format") == "uuid":
            return str(uuid.uuid4())
        if prop.get("type") == "number":
            return n
        kind = prop.get("format")
        if kind == "uri":
            return f"https://example.org/{table}/{name}/{n}"
        if kind == "email":
            return f"{table}.{n}@example.org"
        if kind == "date":
            return f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}"
        if kind == "date-time":
            return "2026-11-30T08:00:00.500+08:00"
        if name == "number":
            return f"0831-71{n:05d}"
        if table == "contact" and name == "name":
            return f"联系人{n}"
        return f"{table} {name} {n}"


def full_service(**overrides: Any) -> Json:
    """A service with every field the spec defines (3.1), every list holding one child."""
    service = Builder().build("service")
    service.update(overrides)
    return service

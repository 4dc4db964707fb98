"""Writes 3.0/hsds.schema.json and 3.1/hsds.schema.json: JSON Schemas (draft 2020-12) derived
from Open Referral's per-object schema files (schema/*.json of openreferral/specification, see
README.md for the commits read). Per object: its properties with their types, formats and enums,
and its `required` list, as the spec's compiled schemas carry them (descriptions and examples
left out). Run `python tests/resources/hsds_schemas/derive.py` after changing the table."""

import json
from pathlib import Path
from typing import Any

S, N = "string", "number"
URI, EMAIL, DATE, DATETIME = "uri", "email", "date", "date-time"
META = {"attributes": ["attribute"], "metadata": ["metadata"]}

# name: (properties, required). A property is a type, (type, format), ("enum", [...]),
# ["object"] for an array of objects, or {"object"} for one object.
OBJECTS_30: dict[str, tuple[dict[str, Any], list[str]]] = {
    "service": (
        {
            "id": S,
            "organization_id": S,
            "program_id": S,
            "name": S,
            "alternate_name": S,
            "description": S,
            "url": (S, URI),
            "email": (S, EMAIL),
            "status": ("enum", ["active", "inactive", "defunct", "temporarily closed"]),
            "interpretation_services": S,
            "application_process": S,
            "fees_description": S,
            "accreditations": S,
            "eligibility_description": S,
            "minimum_age": N,
            "maximum_age": N,
            "assured_date": (S, DATE),
            "assurer_email": (S, EMAIL),
            "alert": S,
            "schedules": ["schedule"],
            "languages": ["language"],
            "program": {"program"},
            "fundings": ["funding"],
            "required_documents": ["required_document"],
            "service_at_locations": ["service_at_location"],
            "phones": ["phone"],
            "organization": {"organization"},
            "contacts": ["contact"],
            "cost_options": ["cost_option"],
            "service_areas": ["service_area"],
            **META,
        },
        ["id", "name", "status"],
    ),
    "organization": (
        {
            "id": S,
            "name": S,
            "alternate_name": S,
            "description": S,
            "email": (S, EMAIL),
            "website": (S, URI),
            "year_incorporated": N,
            "legal_status": S,
            "logo": S,
            "uri": (S, URI),
            "parent_organization_id": S,
            "organization_identifiers": ["organization_identifier"],
            "programs": ["program"],
            "contacts": ["contact"],
            "locations": ["location"],
            "fundings": ["funding"],
            "phones": ["phone"],
            **META,
        },
        ["id", "name", "description"],
    ),
    "location": (
        {
            "id": S,
            "location_type": ("enum", ["physical", "postal", "virtual"]),
            "url": (S, URI),
            "organization_id": S,
            "name": S,
            "alternate_name": S,
            "description": S,
            "transportation": S,
            "latitude": N,
            "longitude": N,
            "external_identifier": S,
            "external_identifier_type": S,
            "phones": ["phone"],
            "accessibility": ["accessibility"],
            "contacts": ["contact"],
            "schedules": ["schedule"],
            "languages": ["language"],
            "addresses": ["address"],
            **META,
        },
        ["id", "location_type"],
    ),
    "service_at_location": (
        {
            "id": S,
            "service_id": S,
            "location_id": S,
            "description": S,
            "phones": ["phone"],
            "location": {"location"},
            "contacts": ["contact"],
            "schedules": ["schedule"],
            **META,
        },
        ["id"],
    ),
    "schedule": (
        {
            "id": S,
            "service_id": S,
            "location_id": S,
            "service_at_location_id": S,
            "valid_from": (S, DATE),
            "valid_to": (S, DATE),
            "dtstart": (S, DATE),
            "timezone": N,
            "until": (S, DATE),
            "count": S,
            "wkst": ("enum", ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]),
            "freq": ("enum", ["WEEKLY", "MONTHLY"]),
            "interval": N,
            "byday": S,
            "byweekno": S,
            "bymonthday": N,
            "byyearday": N,
            "description": S,
            "opens_at": S,
            "closes_at": S,
            "schedule_link": (S, URI),
            "attending_type": S,
            "notes": S,
            **META,
        },
        ["id"],
    ),
    "service_area": (
        {
            "id": S,
            "service_id": S,
            "name": S,
            "description": S,
            "extent": S,
            "extent_type": S,
            "uri": S,
            **META,
        },
        ["id"],
    ),
    "phone": (
        {
            "id": S,
            "location_id": S,
            "service_id": S,
            "organization_id": S,
            "contact_id": S,
            "service_at_location_id": S,
            "number": S,
            "extension": N,
            "type": S,
            "description": S,
            "languages": ["language"],
            **META,
        },
        ["id", "number"],
    ),
    "contact": (
        {
            "id": S,
            "organization_id": S,
            "service_id": S,
            "service_at_location_id": S,
            "location_id": S,
            "name": S,
            "title": S,
            "department": S,
            "email": (S, EMAIL),
            "phones": ["phone"],
            **META,
        },
        ["id"],
    ),
    "attribute": (
        {
            "id": S,
            "link_id": S,
            "taxonomy_term_id": S,
            "link_type": S,
            "link_entity": S,
            "value": S,
            "taxonomy_term": {"taxonomy_term"},
            "metadata": ["metadata"],
        },
        ["id", "link_type"],
    ),
    "taxonomy_term": (
        {
            "id": S,
            "code": S,
            "name": S,
            "description": S,
            "parent_id": S,
            "taxonomy": S,
            "taxonomy_detail": {"taxonomy"},
            "language": S,
            "taxonomy_id": S,
            "term_uri": (S, URI),
            "metadata": ["metadata"],
        },
        ["id", "name", "description"],
    ),
    "taxonomy": (
        {"id": S, "name": S, "description": S, "uri": (S, URI), "metadata": ["metadata"]},
        ["id", "name", "description"],
    ),
    "address": (
        {
            "id": S,
            "location_id": S,
            "attention": S,
            "address_1": S,
            "address_2": S,
            "city": S,
            "region": S,
            "state_province": S,
            "postal_code": S,
            "country": S,
            "address_type": ("enum", ["physical", "postal", "virtual"]),
            **META,
        },
        ["id", "address_1", "city", "state_province", "postal_code", "country", "address_type"],
    ),
    "metadata": (
        {
            "id": S,
            "resource_id": S,
            "resource_type": S,
            "last_action_date": S,
            "last_action_type": S,
            "field_name": S,
            "previous_value": S,
            "replacement_value": S,
            "updated_by": S,
        },
        [
            "id",
            "last_action_date",
            "last_action_type",
            "field_name",
            "previous_value",
            "replacement_value",
            "updated_by",
        ],
    ),
    "language": (
        {
            "id": S,
            "service_id": S,
            "location_id": S,
            "phone_id": S,
            "name": S,
            "code": S,
            "note": S,
            **META,
        },
        ["id"],
    ),
    "cost_option": (
        {
            "id": S,
            "service_id": S,
            "valid_from": (S, DATE),
            "valid_to": (S, DATE),
            "option": S,
            "currency": S,
            "amount": N,
            "amount_description": S,
            **META,
        },
        ["id"],
    ),
    "program": (
        {
            "id": S,
            "organization_id": S,
            "name": S,
            "alternate_name": S,
            "description": S,
            **META,
        },
        ["id", "name", "description"],
    ),
    "funding": (
        {"id": S, "organization_id": S, "service_id": S, "source": S, **META},
        ["id"],
    ),
    "required_document": (
        {"id": S, "service_id": S, "document": S, **META},
        ["id"],
    ),
    "accessibility": (
        {"id": S, "location_id": S, "description": S, "details": S, "url": (S, URI), **META},
        ["id"],
    ),
    "organization_identifier": (
        {
            "id": S,
            "organization_id": S,
            "identifier_scheme": S,
            "identifier_type": S,
            "identifier": S,
            **META,
        },
        ["id", "identifier_type", "identifier"],
    ),
}

# 3.1: identifiers are UUIDs; services and organizations gain additional URLs; services gain
# capacities (service_capacity, with its unit).
IDS = {
    "id",
    "organization_id",
    "program_id",
    "service_id",
    "location_id",
    "link_id",
    "taxonomy_term_id",
    "parent_id",
    "taxonomy_id",
    "contact_id",
    "service_at_location_id",
    "phone_id",
    "unit_id",
    "resource_id",
    "parent_organization_id",
}
ADDED_31: dict[str, tuple[dict[str, Any], list[str]]] = {
    "url": (
        {"id": S, "label": S, "url": (S, URI), "organization_id": S, "service_id": S, **META},
        ["id", "url"],
    ),
    "service_capacity": (
        {
            "id": S,
            "service_id": S,
            "unit": {"unit"},
            "unit_id": S,
            "available": N,
            "maximum": N,
            "description": S,
            "updated": (S, DATETIME),
        },
        ["id", "unit", "available", "updated"],
    ),
    "unit": (
        {"id": S, "name": S, "scheme": S, "identifier": S, "uri": (S, URI), **META},
        ["id", "name"],
    ),
}
EXTENDED_31 = {
    "service": {"additional_urls": ["url"], "capacities": ["service_capacity"]},
    "organization": {"additional_websites": ["url"]},
}
PAGE = ["total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty"]


def _property(name: str, spec: Any, uuid_ids: bool) -> dict[str, Any]:
    if isinstance(spec, list):
        return {"type": "array", "items": {"$ref": f"#/$defs/{spec[0]}"}}
    if isinstance(spec, set):
        return {"$ref": f"#/$defs/{next(iter(spec))}"}
    if isinstance(spec, tuple) and spec[0] == "enum":
        return {"type": "string", "enum": spec[1]}
    if isinstance(spec, tuple):
        return {"type": spec[0], "format": spec[1]}
    if uuid_ids and name in IDS:
        return {"type": spec, "format": "uuid"}
    return {"type": spec}


def schema(version: str) -> dict[str, Any]:
    """The derived schema of one HSDS version: `$defs` per object, plus list (page) shapes."""
    objects = dict(OBJECTS_30)
    uuid_ids = version == "3.1"
    if uuid_ids:
        objects |= ADDED_31
        for name, extra in EXTENDED_31.items():
            properties, required = objects[name]
            objects[name] = ({**properties, **extra}, required)
    defs: dict[str, Any] = {
        name: {
            "type": "object",
            "properties": {k: _property(k, v, uuid_ids) for k, v in properties.items()},
            "required": required,
        }
        for name, (properties, required) in objects.items()
    }
    for name in ("service", "organization", "service_at_location"):
        defs[f"{name}_list"] = {
            "type": "object",
            "properties": {
                "total_items": {"type": "integer"},
                "total_pages": {"type": "integer"},
                "page_number": {"type": "integer"},
                "size": {"type": "integer"},
                "first_page": {"type": "boolean"},
                "last_page": {"type": "boolean"},
                "empty": {"type": "boolean"},
                "contents": {"type": "array", "items": {"$ref": f"#/$defs/{name}"}},
            },
            "required": [*PAGE, "contents"],
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"HSDS {version} (derived from openreferral/specification schema/*.json)",
        "$defs": defs,
    }


if __name__ == "__main__":
    here = Path(__file__).parent
    for version in ("3.0", "3.1"):
        (here / version).mkdir(exist_ok=True)
        text = json.dumps(schema(version), indent=1, sort_keys=True) + "\n"
        (here / version / "hsds.schema.json").write_text(text, encoding="utf-8")

"""HSDS records into the resource library: rows read from any HSDS form, drafts, and the
report of what was mapped, kept as it came, or refused."""

from typing import Any

from services.resources.hsds import checks, documents, mapping
from services.resources.models import Resource
from services.resources.schemas import ResourceCreate
from shared.errors import FieldError

Json = dict[str, Any]


def read(content: bytes, file_format: str) -> list[Json]:
    """Import rows from an HSDS file: JSON of any form, or a zipped tabular package."""
    if file_format == "hsds-zip":
        services = documents.read_package(content)
    else:
        services = documents.read_json(content)
    return [row(service, position) for position, service in enumerate(services, start=1)]


def row(service: Json, position: int = 1) -> Json:
    """One service as an import row: Lianjie's fields and the service as read."""
    read_row = mapping.row_from_service(service, position)
    read_row["hsds"] = service
    return read_row


def refused(service: Json) -> list[FieldError]:
    """The fields of the service that cannot come in (see `checks`)."""
    return checks.refused(service)


def draft(
    body: Json, service: Json
) -> tuple[ResourceCreate, dict[str, list[str]]] | list[FieldError]:
    """The body as a draft (and what it lacks, with suggested categories); or the rules it
    breaks that a draft must keep too."""
    drafted = checks.draft_of(body)
    if isinstance(drafted, list):
        return drafted
    data, missing = drafted
    return data, {"missing": missing, "suggested_categories": checks.suggest_categories(service)}


def keep(resource: Resource, service: Json, existing: Resource | None) -> None:
    """Keep the service with the resource. Phones and contacts an export showed masked are
    kept as stored (matched by id), never overwritten by their masks."""
    stored = (existing.hsds_source or {}).get("service") if existing is not None else None
    mapping.keep_source(resource, _unmasked(service, _by_id(stored or {})))


def _by_id(value: Any, found: dict[str, Json] | None = None) -> dict[str, Json]:
    found = {} if found is None else found
    if isinstance(value, dict):
        if isinstance(value.get("id"), str):
            found.setdefault(value["id"], value)
        for child in value.values():
            _by_id(child, found)
    elif isinstance(value, list):
        for child in value:
            _by_id(child, found)
    return found


def _unmasked(value: Any, stored: dict[str, Json]) -> Any:
    if isinstance(value, list):
        return [_unmasked(v, stored) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _unmasked(v, stored) for k, v in value.items()}
    before = stored.get(str(out.get("id")))
    for key in ("number", "name", "email"):
        shown = out.get(key)
        if before and isinstance(shown, str) and checks.MASK in shown and key in before:
            out[key] = before[key]
    return out


def report(service: Json | None, draft: dict[str, list[str]] | None) -> Json:
    """What the import report says of one record: fields mapped, kept as they came, and (a
    draft) what is missing and the categories suggested."""
    if service is None:
        return {}
    mapped = [f for f in mapping.MAPPED if f.split(".", 1)[0] in service]
    taken = {f.split(".", 1)[0] for f in mapped} - {"phones", "contacts", "service_at_locations"}
    kept = sorted(k for k in service if k not in taken)
    return {
        "mapped": mapped,
        "kept": kept,
        "missing": (draft or {}).get("missing", []),
        "suggested_categories": (draft or {}).get("suggested_categories", []),
    }

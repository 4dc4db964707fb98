"""The resource library as HSDS: a paginated list of compiled services (JSON) or a zipped
tabular data package; contacts masked unless shown in full to this reader."""

from collections.abc import Iterable

from services.resources.hsds import documents, mapping
from services.resources.models import Resource

Json = mapping.Json


def services(resources: Iterable[Resource], *, unmasked: set[str]) -> list[Json]:
    """Each resource as an HSDS service; phones and contact persons masked except for the
    resources whose ids are in `unmasked`."""
    out = []
    for resource in resources:
        service = mapping.service_document(resource)
        out.append(service if resource.id in unmasked else mapping.masked(service))
    return out


def write(resources: Iterable[Resource], file_format: str, *, unmasked: set[str]) -> bytes:
    """The export file: `hsds-json` (one list page) or `hsds-zip` (tabular package)."""
    found = services(resources, unmasked=unmasked)
    if file_format == "hsds-zip":
        return documents.write_package(found)
    return documents.write_json(found)

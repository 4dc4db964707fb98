"""Bulk import: rows from a CSV or HSDS file become resources (committed a chunk of rows at a
time: new rows registered together, updates and drafts each in its own savepoint), and every
row gets a line in the report (accepted, updated, flagged duplicate, or rejected with the field
and rule it broke). A bad row never leaves half a resource behind. Reading and importing run
with the garbage collector's thresholds raised (`shared.collector`).

One rule refuses the whole import instead: a coordinator imports only their own organization's
resources. Every row is checked before any is written, so a file with one row of another
organization (or updating another organization's resource) writes nothing (403, naming each
such row and field). A row that turns out to be outside only when its turn comes (a resource
of another organization registered meanwhile under its id) is rejected like any bad row."""

import csv
import zipfile
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.resources import csv_io, privacy, service
from services.resources.hsds import exporting as hsds_export
from services.resources.hsds import importing as hsds_import
from services.resources.models import Resource
from services.resources.schemas import ResourceCreate
from shared.actor import Actor
from shared.auth import Role
from shared.collector import rarer_collections
from shared.contracts.common import SUBJECT_TOKEN_RULE, subject_token_problem
from shared.db import read_session, transaction, vacuum_analyze
from shared.errors import DomainError, FieldError, Forbidden, ValidationFailed, field_errors

FileFormat = Literal["csv", "xlsx", "hsds-json", "hsds-zip"]
MAX_ID_LENGTH = 36  # resource ids are UUIDs
IMPORT_CHUNK_ROWS = 1000  # rows committed together (plain new rows registered in bulk)
VACUUM_AFTER_ROWS = 1000  # an import creating this many vacuums the table afterwards


class RowError(BaseModel):
    field: str
    rule: str
    message: str


class ImportRow(BaseModel):
    """One resource read from a file, before validation."""

    ref: str = Field(description="Where it came from: a CSV line number or an HSDS service id")
    resource_id: str | None = Field(None, description="Keep or update this id")
    active: bool = True
    capacity_available: int | None = Field(None, description="Units left this period")
    data: dict[str, Any]
    hsds: dict[str, Any] | None = Field(
        None, description="The HSDS service as read: kept with the resource, given back on export"
    )


class RowStatus(StrEnum):
    ACCEPTED = "accepted"
    UPDATED = "updated"
    FLAGGED = "flagged"  # added, and flagged as a possible duplicate for a coordinator
    DRAFT = "draft"  # from another directory, lacking a category, service area or capacity
    REJECTED = "rejected"


class RowOutcome(BaseModel):
    ref: str
    status: RowStatus
    resource_id: str | None = None
    duplicate_of: str | None = None
    errors: list[RowError] = Field(default_factory=list)
    mapped: list[str] = Field(default_factory=list, description="HSDS fields read into Lianjie's")
    kept: list[str] = Field(default_factory=list, description="HSDS fields kept as they came")
    missing: list[str] = Field(default_factory=list, description="What a draft still lacks")
    suggested_categories: list[str] = Field(default_factory=list)


class ImportReport(BaseModel):
    """What happened to every row."""

    total: int = 0
    accepted: int = 0
    updated: int = 0
    flagged: int = 0
    draft: int = 0
    rejected: int = 0
    rows: list[RowOutcome] = Field(default_factory=list)

    def add(self, outcome: RowOutcome) -> None:
        """Count one row's outcome."""
        self.rows.append(outcome)
        self.total += 1
        setattr(self, outcome.status.value, getattr(self, outcome.status.value) + 1)


def detect_format(content: bytes) -> FileFormat:
    """A zip is an XLSX workbook (it holds `xl/workbook.xml`) or an HSDS tabular data package,
    JSON is HSDS, anything else is our CSV."""
    if content[:2] == b"PK":
        return "xlsx" if b"xl/workbook.xml" in content else "hsds-zip"
    if content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{"):
        return "hsds-json"
    return "csv"


def read_rows(content: bytes, file_format: FileFormat | None = None) -> list[ImportRow]:
    """The rows of a file in any of the formats; an unreadable file, or one with content and
    no rows, is a ValidationFailed."""
    try:
        with rarer_collections():
            rows = _read_rows(content, file_format or detect_format(content))
    except (
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        RecursionError,
        zipfile.BadZipFile,
        csv.Error,
    ) as exc:
        # ValueError covers broken JSON, bad UTF-8 and pydantic's ValidationError; the others,
        # JSON of the wrong shape (a string where HSDS has an object, …) or nested thousands
        # deep inside a zipped package (a plain body that deep never gets here: nul_guard.py).
        message = f"cannot read the file as {file_format or detect_format(content)}"
        raise ValidationFailed.one("file", "unreadable_file", message) from exc
    if not rows and content.strip(b"\xef\xbb\xbf \t\r\n"):
        chosen = file_format or detect_format(content)
        raise ValidationFailed.one(
            "file", "no_rows", f"no resources read from the file as {chosen}"
        )
    return rows


def _read_rows(content: bytes, chosen: FileFormat) -> list[ImportRow]:
    if chosen in ("csv", "xlsx"):
        read = csv_io.read if chosen == "csv" else csv_io.read_xlsx
        return [ImportRow.model_validate(r) for r in read(content)]
    return [ImportRow.model_validate(r) for r in hsds_import.read(content, chosen)]


def import_row(*, session: Session, row: ImportRow) -> RowOutcome:
    """Validate one row and add it, or update the resource with its id; raises on a bad row."""
    data, existing, draft = _validated(session, row)
    resource, status = _store(session, row, data, existing, draft)
    if row.hsds is not None:
        hsds_import.keep(resource, row.hsds, existing)
    return RowOutcome(
        ref=row.ref,
        status=RowStatus.DRAFT if draft else status,
        resource_id=resource.id,
        duplicate_of=resource.duplicate_of,
        **hsds_import.report(row.hsds, draft),
    )


def _validated(
    session: Session, row: ImportRow
) -> tuple[ResourceCreate, Resource | None, dict[str, list[str]] | None]:
    """The row as a registration, the resource it updates (if any) and, for another
    directory's record lacking only what Lianjie needs, what its draft lacks; raises
    ValidationFailed naming every field and rule the row breaks."""
    errors = []
    if row.resource_id is not None and len(row.resource_id) > MAX_ID_LENGTH:
        errors.append(FieldError("id", "string_too_long", f"at most {MAX_ID_LENGTH} characters"))
    elif row.resource_id and (problem := subject_token_problem(row.resource_id)):
        errors.append(FieldError("id", SUBJECT_TOKEN_RULE, problem))
    existing = session.get(Resource, row.resource_id) if row.resource_id and not errors else None
    body, masked = privacy.unmask_kept(row.data, existing)
    errors += masked
    if row.hsds is not None:  # judged here, whoever read the file
        errors += hsds_import.refused(row.hsds)
    draft: dict[str, list[str]] | None = None
    try:
        data = ResourceCreate.model_validate(body)
    except ValidationError as exc:
        masked_fields = {e.field for e in masked}
        found = field_errors(list(exc.errors()))
        if row.hsds is not None:  # another directory's record: a draft if only ours is missing
            drafted = hsds_import.draft(body, row.hsds)
            if isinstance(drafted, tuple):
                (data, draft), found = drafted, []
            else:
                found = drafted  # what a draft must keep too
        errors += [e for e in found if e.field not in masked_fields]
    if row.capacity_available is not None and row.capacity_available < 0:
        errors.append(
            FieldError("capacity.available", "greater_than_equal", "at least 0", {"ge": 0})
        )
    if errors:
        raise ValidationFailed(errors)
    return data, existing, draft


def _store(
    session: Session,
    row: ImportRow,
    data: ResourceCreate,
    existing: Resource | None,
    draft: dict[str, list[str]] | None,
) -> tuple[Resource, RowStatus]:
    if existing is not None:
        resource = service.update(
            session=session, resource_id=existing.id, data=data, expected_version=None
        )
        status = RowStatus.UPDATED
    else:
        resource = service.create(
            session=session,
            data=data,
            resource_id=row.resource_id,
            capacity_remaining=row.capacity_available,
            draft=draft,
        )
        status = RowStatus.FLAGGED if resource.duplicate_of else RowStatus.ACCEPTED
    if draft is not None:
        resource.draft = draft  # updated again as a draft: still inactive till completed
    if not row.active or draft is not None:
        service.deactivate(session=session, resource_id=resource.id)
    elif not resource.active:
        service.activate(session=session, resource_id=resource.id)
    return resource, status


def check_organization(*, session: Session, rows: list[ImportRow], actor: Actor | None) -> None:
    """Forbidden, naming every row and field, when a coordinator's rows name another
    organization or would update another organization's resource (other roles: any)."""
    if actor is None or actor.role != Role.COORDINATOR.value:
        return
    own = actor.organization
    owners = _owners(session, [row.resource_id for row in rows if row.resource_id])
    outside = []
    for row in rows:
        named = row.data.get("organization")
        if not own or named != own:
            outside.append(_outside(row, "organization", f"organization {named!r}"))
        elif row.resource_id in owners and owners[row.resource_id] != own:
            outside.append(_outside(row, "id", f"resource {row.resource_id}"))
    if outside:
        refs = ", ".join(f"{e['ref']} ({e['field']})" for e in outside)
        raise Forbidden(
            f"rows outside your organization, nothing was imported: {refs}",
            extra={"rule": "scope", "errors": outside},
        )


def _owners(session: Session, ids: list[str]) -> dict[str, str | None]:
    """The organization of each resource among `ids` that exists."""
    if not ids:
        return {}
    query = select(Resource.id, Resource.organization).where(Resource.id.in_(ids))
    return {resource_id: organization for resource_id, organization in session.execute(query)}


def _outside(row: ImportRow, field: str, what: str) -> dict[str, str]:
    message = f"{what} is outside your jurisdiction"
    return {"ref": row.ref, "field": field, "rule": "scope", "message": message}


def import_rows(
    *,
    sessions: sessionmaker[Session],
    rows: list[ImportRow],
    actor: Actor | None = None,
    on_row: Callable[[RowOutcome], None] | None = None,
    chunk_rows: int = IMPORT_CHUNK_ROWS,
) -> ImportReport:
    """Check the actor's organization on every row first (all or nothing), then import the
    rows `chunk_rows` to a transaction (plain new rows together, the others each in its own
    savepoint), and report on each (`on_row` hears of a chunk's rows once it has committed)."""
    with read_session(sessions) as session:
        check_organization(session=session, rows=rows, actor=actor)
    report = ImportReport()
    with rarer_collections():
        for start in range(0, len(rows), chunk_rows):
            for outcome in _import_chunk(sessions, rows[start : start + chunk_rows], actor):
                report.add(outcome)
                if on_row is not None:
                    on_row(outcome)
    if report.accepted + report.flagged >= VACUUM_AFTER_ROWS:
        # The next registration's duplicate look-up reads the index alone, not the new rows.
        vacuum_analyze(sessions, Resource.__table__)  # type: ignore[arg-type]
    return report


def _import_chunk(
    sessions: sessionmaker[Session], rows: list[ImportRow], actor: Actor | None
) -> list[RowOutcome]:
    """The rows' outcomes, once their transaction has committed. A bad row writes nothing,
    and the rows beside it are kept. One commit per chunk instead of per row: a row's own
    transaction cost more than the row (its commit, a connection from the pool, the relay
    woken), and a county imports tens of thousands.

    Plain new rows (no id, not another directory's record, active) are validated one by one
    and then registered together (`_register_plain`): their duplicates looked up in a couple of
    queries, one INSERT per table. Any other row (an update, a draft, an inactive one) goes
    the row's own way, in its own savepoint, after the plain rows before it are registered:
    every row sees the rows above it, as if the file were imported line by line."""
    outcomes: list[RowOutcome | None] = [None] * len(rows)
    plain: list[tuple[int, ImportRow, ResourceCreate]] = []
    with transaction(sessions) as session:
        for at, row in enumerate(rows):
            if _is_plain(row):
                try:
                    # Again for the row: a resource created since the first check.
                    check_organization(session=session, rows=[row], actor=actor)
                    plain.append((at, row, _validated(session, row)[0]))
                except DomainError as exc:
                    outcomes[at] = _refused(row, exc)
                continue
            _register_plain(session, plain, outcomes)
            plain = []
            try:
                with session.begin_nested():
                    check_organization(session=session, rows=[row], actor=actor)
                    outcomes[at] = import_row(session=session, row=row)
            except DomainError as exc:
                outcomes[at] = _refused(row, exc)
        _register_plain(session, plain, outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


def _is_plain(row: ImportRow) -> bool:
    """A new, active row of our own format: refused, if at all, before anything is written
    (by its rules or its organization), so it needs no savepoint and can go in bulk."""
    return row.resource_id is None and row.hsds is None and row.active


def _register_plain(
    session: Session,
    plain: list[tuple[int, ImportRow, ResourceCreate]],
    outcomes: list[RowOutcome | None],
) -> None:
    """Register the validated plain rows together and set their outcomes (by place)."""
    if not plain:
        return
    items = [(data, row.capacity_available) for _, row, data in plain]
    created = service.create_many(session=session, items=items)
    for (at, row, _), (resource_id, twin_id) in zip(plain, created, strict=True):
        outcomes[at] = RowOutcome(
            ref=row.ref,
            status=RowStatus.FLAGGED if twin_id else RowStatus.ACCEPTED,
            resource_id=resource_id,
            duplicate_of=twin_id,
        )


def _refused(row: ImportRow, refusal: DomainError) -> RowOutcome:
    """The outcome of a row refused: its fields and rules."""
    if isinstance(refusal, Forbidden):
        # Rows before this one are kept: refusing the whole import now would report
        # nothing of them, so this row alone is rejected, naming its field and the rule.
        return _rejected(row, _scope_errors(refusal))
    if isinstance(refusal, ValidationFailed):
        return _rejected(row, refusal.errors)
    return _rejected(row, [FieldError("row", type(refusal).__name__, refusal.detail)])


def _scope_errors(refused: Forbidden) -> list[FieldError]:
    named = [
        FieldError(e["field"], e["rule"], e["message"]) for e in refused.extra.get("errors", [])
    ]
    return named or [FieldError("row", "scope", refused.detail)]


def _rejected(row: ImportRow, errors: list[FieldError]) -> RowOutcome:
    return RowOutcome(
        ref=row.ref,
        status=RowStatus.REJECTED,
        resource_id=row.resource_id,
        errors=[RowError(**e.as_dict()) for e in errors],
    )


def export(
    *,
    session: Session,
    file_format: FileFormat,
    actor: Actor | None = None,
    purpose: privacy.Purpose | None = None,
) -> bytes:
    """Every resource in one file of the chosen format. Contacts are masked unless a purpose
    is given (checked by the caller): then those the actor reaches are in full, and logged."""
    resources = list(service.get_all(session=session, where=service.ListFilter(), limit=10**9)[0])
    full = [r for r in resources if actor and purpose and privacy.reaches(actor, r)]
    if actor is not None and purpose is not None:
        privacy.record_access(session=session, actor=actor, purpose=purpose, resources=full)
    # Detached, the masked values below can never be flushed over the stored contacts.
    session.expunge_all()
    unmasked = {r.id for r in full}
    for resource in resources:
        for field, value in privacy.shown(resource, unmasked=resource.id in unmasked).items():
            setattr(resource, field, value)
    if file_format == "csv":
        return csv_io.write(resources)
    if file_format == "xlsx":
        return csv_io.write_xlsx(resources)
    return hsds_export.write(resources, file_format, unmasked=unmasked)

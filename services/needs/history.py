"""The edit history of household files and cases: who changed which fields, when, from where.

Only field names are kept, never old or new values: names, ID numbers, phones and addresses
stay encrypted in the record itself (docs/personal-data.md). Read by the station and the
county hub (`GET /households/{id}/history`, `GET /persons/{id}/history`).
"""

from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.orm import Session

from services.needs.models import RecordChange
from shared.actor import Actor
from shared.errors import PreconditionFailed


class Versioned(Protocol):
    id: str
    version: int


def check_version(kind: str, version: int, expected: int | None) -> None:
    """412 when the caller changes a version other than the current one (their If-Match)."""
    if expected is not None and expected != version:
        raise PreconditionFailed(
            f"the {kind} is at version {version}, not {expected}: read it again",
            extra={"current_version": version},
        )


def record(
    session: Session,
    record: Versioned,
    *,
    record_type: str,
    fields: list[str],
    actor: Actor | None,
    source: str,
) -> RecordChange:
    """Keep one edit of `record` (at its new version): the fields' names, who, when."""
    change = RecordChange(
        record_type=record_type,
        record_id=record.id,
        version=record.version,
        fields=sorted(fields),
        actor=actor.id if actor else None,
        role=actor.role if actor else None,
        source=source,
        changed_at=datetime.now(UTC),
    )
    session.add(change)
    return change

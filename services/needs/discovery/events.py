"""What early warning says on NATS: a verification task opened or closed, queued through the
outbox in the transaction that changes it. Discovery hears nothing on the bus; it asks the
matcher through `services.needs.events.ask_reverse`."""

from datetime import datetime

from sqlalchemy.orm import Session

from services.needs.discovery.models import VerificationTask
from services.needs.models import OutboxEvent
from shared.contracts.needs import VerificationTaskEvent
from shared.outbox import add_event


def announce_task(
    *, session: Session, task: VerificationTask, rule_code: str, subject: str, now: datetime
) -> None:
    """Queue the task's event on `subject`: ids, codes and the adcode, never personal data."""
    event = VerificationTaskEvent(
        task_id=task.id,
        rule_code=rule_code,
        person_id=task.person_id,
        household_id=task.household_id,
        adcode=task.adcode,
        status=task.status,  # type: ignore[arg-type]
        due_on=task.due_on,
        occurred_at=now,
    )
    add_event(session, OutboxEvent, subject=subject, aggregate_id=task.id, payload=event)

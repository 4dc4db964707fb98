"""Personal data in answers: masked by default; unmasked only for a role that may see it, for a
stated purpose, and every such read written to the access log the county hub reviews.

Also the rules of sensitive personal data (PIPL art. 28-31): health and disability data need
the person's separate consent, and a guardian's for a child under 14; and what a withdrawn
consent stops and erases (art. 15, 47).
"""

import re
from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from services.needs.enums import REFERRALS_NEED_CONSENT, ConsentGiver, ConsentScope
from services.needs.models import Household, Person, PiiAccess
from shared import access_log
from shared.actor import Actor
from shared.clock import china_today
from shared.contracts.vocabulary import Group
from shared.crypto import index_of, phone_index
from shared.errors import FieldError, ValidationFailed
from shared.masking import mask_id_number, mask_phone

# Those who work the case face to face. The county hub supervises through the access log and
# the figures; an administrator runs the system: neither needs a full ID number to do so.
UNMASK_ROLES = frozenset({"social_worker", "station_lead"})

# Sensitive personal data of a case (PIPL art. 28): health and disability.
SENSITIVE_GROUPS = frozenset(
    {Group.DISABLED.value, Group.DEMENTIA.value, Group.SERIOUS_ILLNESS.value}
)
CHILD_CONSENT_AGE = 14  # PIPL art. 28/31: under 14, a guardian consents


class Purpose(StrEnum):
    """Why a caller needs a person's full ID number or phone."""

    HOME_VISIT = "home_visit"  # 入户探访
    REFERRAL = "referral"  # 转介: the resource must reach the person
    BENEFIT_REVIEW = "benefit_review"  # 救助审核: checking entitlement with a department
    CASE_REVIEW = "case_review"  # 个案督导


UNMASKED_FIELDS = ("resident_id", "phone")


def may_unmask(*, actor: Actor, purpose: Purpose | None) -> bool:
    """Whether this read shows full values (403 for a role that may not unmask)."""
    return access_log.may_unmask(actor=actor, purpose=purpose, roles=UNMASK_ROLES)


def shown(person: Person, *, unmasked: bool) -> dict[str, str | None]:
    """The ID number and phone as an answer shows them."""
    number, phone = person.resident_id, person.phone
    if unmasked:
        return {"resident_id": number, "phone": phone}
    return {
        "resident_id": mask_id_number(number) if number else None,
        "phone": mask_phone(phone) if phone else None,
    }


def record_access(
    *, session: Session, actor: Actor, purpose: Purpose, people: Iterable[Person]
) -> list[PiiAccess]:
    """Write one access-log row per person whose personal data is being shown in full."""
    return access_log.log_reads(
        session=session, record_type=PiiAccess, subject="person_id", records=people,
        fields=UNMASKED_FIELDS, actor=actor, purpose=purpose,
    )  # fmt: skip


def get_access_log(
    *,
    session: Session,
    person_id: str | None = None,
    actor_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[PiiAccess]:
    """Unmasked reads, newest first, narrowed as asked, one page."""
    return access_log.read_log(
        session=session, record_type=PiiAccess, subject="person_id", subject_id=person_id,
        actor_id=actor_id, since=since, limit=limit, offset=offset,
    )  # fmt: skip


# Runs of 8+ digits (spaces and dashes allowed inside), an ID number's X included: ID numbers,
# phones, bank cards. Short numbers (house numbers, quantities, years) stay.
_LONG_NUMBERS = re.compile(r"\d(?:[\s-]?\d){6,}[\s-]?[\dXx]")
REDACTED = "＊"


def redact(text: str, *, known: Iterable[str] = ()) -> str:
    """Free text fit to leave this service (the matcher ranks by it): the `known` personal
    values (names, address, numbers of the household) and any long number replaced by ＊."""
    for value in sorted({k for k in known if len(k) >= 2}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return _LONG_NUMBERS.sub(REDACTED, text)


def sensitive_fields(*, groups: Iterable[str], disability_grade: int | None) -> list[str]:
    """Which of these fields hold sensitive personal data (health, disability)."""
    found = []
    if any(g in SENSITIVE_GROUPS for g in groups):
        found.append("groups")
    if disability_grade is not None:
        found.append("disability_grade")
    return found


def age_on(born: date, today: date) -> int:
    """Full years from `born` to `today`."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def check_sensitive_consent(
    *,
    fields: list[str],
    scope: Iterable[str],
    given_by: str | None,
    born: date | None,
    today: date | None = None,
) -> None:
    """Refuse (422, nothing written) sensitive data without the consent the law asks for."""
    if not fields:
        return
    errors = []
    if ConsentScope.SENSITIVE not in set(scope):
        errors.append(
            FieldError(
                "consent",
                "separate_consent_required",
                f"{', '.join(fields)} hold health or disability data: record the person's "
                'separate consent (scope "sensitive", PIPL art. 29) first',
            )
        )
    child = born is not None and age_on(born, today or china_today()) < CHILD_CONSENT_AGE
    if child and given_by != ConsentGiver.GUARDIAN:
        errors.append(
            FieldError(
                "consent",
                "guardian_consent_required",
                f"the person is under {CHILD_CONSENT_AGE}: {', '.join(fields)} need a "
                'guardian\'s consent on record (given_by "guardian", PIPL art. 31)',
            )
        )
    if errors:
        raise ValidationFailed(errors)


def erase_sensitive(person: Person) -> list[str]:
    """Erase the person's health and disability data (PIPL art. 47, consent withdrawn): the
    sensitive groups and the disability grade. Returns the fields that held any."""
    erased = sensitive_fields(groups=person.groups, disability_grade=person.disability_grade)
    person.groups = [g for g in person.groups if g not in SENSITIVE_GROUPS]
    person.disability_grade = None
    return erased


def withdrawn_for_referrals(person: Person) -> list[str]:
    """The withdrawn scopes that stop matches and referrals for this person (none: go on)."""
    return sorted(set(person.consent_withdrawn or ()) & REFERRALS_NEED_CONSENT)


def reencrypt(*, session: Session) -> int:
    """Rewrite every encrypted field under the current key and recompute the blind indexes
    with the current index key (key rotation); returns how many rows were rewritten."""
    rows = 0
    for household in session.scalars(select(Household)):
        flag_modified(household, "address")
        rows += 1
    for person in session.scalars(select(Person)):
        for column in ("name", "resident_id", "phone"):
            flag_modified(person, column)
        person.resident_id_hash = index_of(person.resident_id)
        person.phone_hash = phone_index(person.phone)
        rows += 1
    session.flush()
    return rows

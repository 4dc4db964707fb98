"""Person cases (一人一案): who the person is, consent and its withdrawal, the case lifecycle
and the tier."""

import logging
import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs import history, privacy, resident_id
from services.needs.cases.events import announce_tier_change
from services.needs.cases.states import CASE_TRANSITIONS, CaseStatus
from services.needs.enums import ConsentScope, ExitReason
from services.needs.models import ConsentWithdrawal, Person
from services.needs.schemas import ConsentIn, ConsentWithdrawalIn, PersonCreate, PersonPatch
from services.needs.service import get_household_or_raise
from shared.actor import Actor
from shared.clock import china_today, utc_now
from shared.contracts.vocabulary import Group
from shared.crypto import index_of, name_index, phone_index
from shared.errors import FieldError, InvalidTransition, ValidationFailed, unknown

log = logging.getLogger(__name__)


def create_person(
    *, session: Session, household_id: str, data: PersonCreate, actor: str | None
) -> Person:
    """Add a person to a household file; the case starts as applied (申请)."""
    household = get_household_or_raise(session=session, household_id=household_id)
    gender, born = _identity_checked(data)
    privacy.check_sensitive_consent(
        fields=privacy.sensitive_fields(groups=data.groups, disability_grade=data.disability_grade),
        scope=[s.value for s in data.consent.scope] if data.consent else [],
        given_by=data.consent.given_by if data.consent else None,
        born=born,
    )
    number_hash = index_of(data.resident_id)
    _number_is_free(session, number_hash, None)
    now = utc_now()
    person = Person(
        id=str(uuid.uuid4()),
        household_id=household.id,
        name=data.name,
        name_hash=name_index(data.name),
        gender=gender,
        date_of_birth=born,
        resident_id=data.resident_id,
        resident_id_hash=number_hash,
        phone=data.phone,
        phone_hash=phone_index(data.phone),
        is_head=data.is_head,
        groups=sorted(set(data.groups)),
        disability_grade=data.disability_grade,
        consent_scope=[],
        consent_withdrawn=[],
        case_status=CaseStatus.APPLIED.value,
        case_status_changed_at=now,
        case_status_changed_by=actor,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(person)
    session.flush()
    if data.consent is not None:
        record_consent(session=session, person=person, consent=data.consent, actor=actor)
    if data.tier is not None:
        change_tier(session=session, person=person, tier=data.tier, actor=actor)
    return person


def _identity_checked(data: PersonCreate) -> tuple[str | None, date | None]:
    """Gender and birth date, read from the ID number and checked against what was given."""
    errors: list[FieldError] = []
    gender = data.gender.value if data.gender else None
    born = data.date_of_birth
    if data.resident_id is not None:
        facts = resident_id.facts(data.resident_id)
        if gender is not None and gender != facts.gender:
            errors.append(
                FieldError("gender", "matches_resident_id", "differs from the ID number's")
            )
        if born is not None and born != facts.date_of_birth:
            errors.append(
                FieldError("date_of_birth", "matches_resident_id", "differs from the ID number's")
            )
        gender, born = facts.gender, facts.date_of_birth
    errors += _grade_errors(data.groups, data.disability_grade)
    if errors:
        raise ValidationFailed(errors)
    return gender, born


def _grade_errors(groups: list[str], grade: int | None) -> list[FieldError]:
    """A disability grade goes with the disabled group, and only with it."""
    disabled = Group.DISABLED.value in groups
    if disabled and grade is None:
        return [FieldError("disability_grade", "required_if_disabled", "give the grade (1-4)")]
    if not disabled and grade is not None:
        return [FieldError("disability_grade", "requires_disabled", "only for the disabled group")]
    return []


def _number_is_free(session: Session, number_hash: str | None, person_id: str | None) -> None:
    """422 when another person on file has this ID number (its blind index)."""
    if number_hash is None:
        return
    other = session.scalar(select(Person.id).where(Person.resident_id_hash == number_hash))
    if other is not None and other != person_id:
        raise ValidationFailed.one(
            "resident_id", "unique", "a person with this ID number is already on file"
        )


PERSON_FIELDS = (
    "name",
    "resident_id",
    "phone",
    "is_head",
    "groups",
    "disability_grade",
    "household_id",
)


def update_person(
    *,
    session: Session,
    person_id: str,
    data: PersonPatch,
    actor: Actor | None,
    expected_version: int | None,
    source: str = "api",
) -> Person:
    """Change a person (412 on a stale version): the same rules as a new one (ID number unique
    and read for gender and birth date, disability grade with the group, sensitive data only
    with consent); the edit is kept in the history, field names only."""
    person = session.get(Person, person_id, with_for_update=True)
    if person is None:
        raise unknown("person")
    history.check_version("person", person.version, expected_version)
    changes = data.model_dump(exclude_unset=True)
    for name in ("name", "is_head", "groups", "household_id"):
        if name in changes and changes[name] is None:
            raise ValidationFailed.one(name, "not_null", "give a value or leave the field out")
    if "groups" in changes:
        changes["groups"] = sorted(set(changes["groups"]))
    changed = [k for k in PERSON_FIELDS if k in changes and getattr(person, k) != changes[k]]
    if not changed:
        return person
    if "household_id" in changed:
        get_household_or_raise(session=session, household_id=changes["household_id"])
    groups = changes.get("groups", person.groups)
    grade = changes.get("disability_grade", person.disability_grade)
    errors = _grade_errors(groups, grade)
    if errors:
        raise ValidationFailed(errors)
    if "resident_id" in changed and changes["resident_id"] is not None:
        facts = resident_id.facts(changes["resident_id"])
        _number_is_free(session, index_of(changes["resident_id"]), person.id)
        person.gender, person.date_of_birth = facts.gender, facts.date_of_birth
    if {"groups", "disability_grade"} & set(changed):
        privacy.check_sensitive_consent(
            fields=privacy.sensitive_fields(groups=groups, disability_grade=grade),
            scope=person.consent_scope or [],
            given_by=person.consent_given_by,
            born=person.date_of_birth,
        )
    for name in changed:
        setattr(person, name, changes[name])
    person.name_hash = name_index(person.name)
    person.resident_id_hash = index_of(person.resident_id)
    person.phone_hash = phone_index(person.phone)
    _touch(person)
    history.record(
        session, person, record_type="person", fields=changed, actor=actor, source=source
    )
    return person


def get_person_or_raise(*, session: Session, person_id: str) -> Person:
    """The person with this id, or NotFound."""
    person = session.get(Person, person_id)
    if person is None:
        raise unknown("person")
    return person


def get_household_persons(
    *, session: Session, household_id: str, limit: int | None = None, offset: int = 0
) -> list[Person]:
    """The persons of a household, head first (one page when `limit` is given)."""
    get_household_or_raise(session=session, household_id=household_id)
    query = (
        select(Person)
        .where(Person.household_id == household_id)
        .order_by(Person.is_head.desc(), Person.created_at, Person.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query))


def record_consent(
    *, session: Session, person: Person, consent: ConsentIn, actor: str | None
) -> Person:
    """Record the person's informed consent (知情同意): date, scope, who recorded it. A scope
    given again after a withdrawal takes effect again; dropping a scope is a withdrawal, with its
    consequences, so it goes through `withdraw_consent` (422 here)."""
    scope = sorted({s.value for s in consent.scope})
    dropped = sorted(set(person.consent_scope or ()) - set(scope))
    if dropped:
        raise ValidationFailed.one(
            "scope",
            "withdraw_instead",
            f"{', '.join(dropped)} would be dropped: record a withdrawal of consent "
            "(POST /persons/{person_id}/consent/withdrawal) instead",
        )
    person.consent_on = consent.given_on
    person.consent_scope = scope
    person.consent_recorded_by = consent.recorded_by or actor
    person.consent_given_by = consent.given_by.value
    person.consent_withdrawn = sorted(set(person.consent_withdrawn or ()) - set(scope))
    _touch(person)
    return person


def withdraw_consent(
    *,
    session: Session,
    person: Person,
    data: ConsentWithdrawalIn,
    actor: Actor,
    today: date | None = None,
) -> ConsentWithdrawal:
    """The person withdraws consent (PIPL art. 15): processing based on it stops from now on,
    what was done before stays lawful. Withdrawing `sensitive` erases health and disability
    data (art. 47); `case_file` exits the case; `case_file` or `referral_sharing` stops matches
    and referrals. Recorded with date, scope and who, ids and codes only."""
    scope = sorted({s.value for s in data.scope or ConsentScope})
    before = person.case_status
    erased = privacy.erase_sensitive(person) if ConsentScope.SENSITIVE in scope else []
    person.consent_scope = [s for s in person.consent_scope if s not in scope]
    person.consent_withdrawn = sorted(set(person.consent_withdrawn or ()) | set(scope))
    if ConsentScope.CASE_FILE in scope and person.case_status != CaseStatus.EXITED:
        _exit(person, ExitReason.CONSENT_WITHDRAWN, actor=actor.id)
    _touch(person)
    withdrawal = ConsentWithdrawal(
        person_id=person.id,
        scope=scope,
        withdrawn_on=data.withdrawn_on or today or china_today(),
        recorded_by=actor.id,  # an account id, never a name typed in: ids and codes only
        actor_id=actor.id,
        role=actor.role,
        erased=erased,
        case_status_before=before,
        case_status_after=person.case_status,
        recorded_at=person.updated_at,
    )
    session.add(withdrawal)
    session.flush()
    log.info(  # ids and codes only
        "consent withdrawn: person %s, scope %s, erased %s, by %s",
        person.id,
        ",".join(scope),
        ",".join(erased) or "-",
        actor.id,
    )
    return withdrawal


def transition_case(
    *,
    session: Session,
    person: Person,
    status: str,
    exit_reason: str | None,
    actor: str | None,
    today: date | None = None,
) -> Person:
    """Move a case along applied → active → exited (with a reason); 409 names what is allowed."""
    allowed = CASE_TRANSITIONS[person.case_status]
    if status not in allowed:
        raise InvalidTransition(
            f"a case cannot go from {person.case_status} to {status}; allowed: "
            + ", ".join(sorted(allowed)),
            extra={"from": person.case_status, "to": status, "allowed": sorted(allowed)},
        )
    if status == CaseStatus.EXITED and exit_reason is None:
        raise ValidationFailed.one("exit_reason", "required_to_exit", "say why the case exits")
    if status != CaseStatus.EXITED and exit_reason is not None:
        raise ValidationFailed.one("exit_reason", "only_when_exiting", "only an exit has one")
    if status == CaseStatus.ACTIVE and ConsentScope.CASE_FILE not in person.consent_scope:
        raise ValidationFailed.one(
            "consent", "required_to_activate", "record consent to the case file first"
        )
    _set_status(person, status, exit_reason, actor=actor)
    if status == CaseStatus.ACTIVE:
        person.active_since = today or china_today()
    _touch(person)
    return person


def _exit(person: Person, reason: str, *, actor: str | None) -> None:
    """Exit the case for `reason` (any case that has not exited yet may)."""
    _set_status(person, CaseStatus.EXITED, reason, actor=actor)


def _set_status(person: Person, status: str, exit_reason: str | None, *, actor: str | None) -> None:
    person.case_status = status
    person.exit_reason = exit_reason
    person.case_status_changed_at = utc_now()
    person.case_status_changed_by = actor


def change_tier(*, session: Session, person: Person, tier: int, actor: str | None) -> Person:
    """Set the case's service tier and announce the change (ids and codes only)."""
    if person.tier == tier:
        return person
    previous = person.tier
    person.tier = tier
    _touch(person)
    announce_tier_change(session=session, person=person, previous=previous, tier=tier)
    return person


def _touch(person: Person) -> None:
    person.version = (person.version or 1) + 1
    person.updated_at = utc_now()

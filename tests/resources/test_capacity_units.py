"""A reservation counts units of the need's unit: a resource counting its capacity in another
unit (hours, not persons) is refused with rule `unit_mismatch`, and nothing is held."""

import pytest
from sqlalchemy.orm import Session, sessionmaker

from services.resources import capacity
from shared.contracts.resources import CapacityRequest
from shared.db import transaction
from shared.errors import Conflict
from tests.resources.test_capacity_ledger import ledger, new_resource


def apply(sessions: sessionmaker[Session], resource_id: str, unit: str | None) -> int:
    request = CapacityRequest(resource_id=resource_id, referral_id="ref-1", units=2, unit=unit)
    with transaction(sessions) as s:
        reply = capacity.apply_capacity(session=s, operation="reserve", request=request)
    return reply.capacity_remaining


def test_a_reservation_in_another_unit_is_refused_and_holds_nothing(
    sessions: sessionmaker[Session],
) -> None:
    counselling = new_resource(sessions, unit="hours")
    with pytest.raises(Conflict) as refused:
        apply(sessions, counselling, "persons")
    assert refused.value.extra["rule"] == "unit_mismatch"
    assert ledger(sessions, counselling) == (10, {})


def test_the_same_unit_by_any_of_its_names_reserves(sessions: sessionmaker[Session]) -> None:
    meals = new_resource(sessions, unit="份")
    assert apply(sessions, meals, "portions") == 8


def test_a_request_without_a_unit_is_not_checked(sessions: sessionmaker[Session]) -> None:
    hours = new_resource(sessions, unit="hours")
    assert apply(sessions, hours, None) == 8

"""Valid request bodies of the services' APIs (and events they announce), built in one place:
keyword arguments replace fields, and `OMIT` leaves a field out (so a test sends exactly what it
means to).

These build bodies only; sending them (a TestClient, httpx against the stack) is the test's.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

from services.needs.resident_id import check_digit
from shared.consumers import DurableConsumer
from shared.contracts.needs import ReferralEvent, ReferralOutcome, referral_subject
from shared.contracts.streams import NEEDS_STREAM
from tests.auth import JIANGAN_TOWN

JIANGAN = {"lat": 28.7300, "lon": 105.0700}  # 江安县, Sichuan


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Final = _Omit()
"""Pass as a field's value to leave the field out of the body."""


def _body(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    body = {**defaults, **overrides}
    return {name: value for name, value in body.items() if value is not OMIT}


def resource_body(**overrides: Any) -> dict[str, Any]:
    """A valid POST /resources body: an enterprise's meal service in 江安县."""
    defaults = {
        "name": "江安镇爱心助餐点",
        "kind": "enterprise",
        "organization": "江安县爱心餐饮有限公司",
        "categories": ["elderly_care.meals"],
        "description": "为独居老人助餐送餐",
        "location": JIANGAN,
        "radius_km": 10,
        "capacity": {"total": 5, "unit": "persons", "period": "month"},
    }
    return _body(defaults, overrides)


def household_body(**overrides: Any) -> dict[str, Any]:
    """A valid POST /households body: a 低保 household of 江安镇."""
    defaults = {
        "address": "江安县江安镇红星村3组12号",
        "adcode": JIANGAN_TOWN,
        "location": {"lat": 28.74, "lon": 105.07},
        "hardship_categories": ["低保"],
        "station_adcode": JIANGAN_TOWN,
        "social_worker": "李社工",
    }
    return _body(defaults, overrides)


def resident_id(born: str = "19500101", serial: str = "003", region: str = "511523") -> str:
    """A valid 18-character ID number: odd serial digit = male, even = female."""
    first17 = f"{region}{born}{serial}"
    return first17 + check_digit(first17)


def person_body(**overrides: Any) -> dict[str, Any]:
    """A valid POST /households/{id}/persons body: the head of the household."""
    return _body({"name": "张三", "resident_id": resident_id(), "is_head": True}, overrides)


def need_body(household_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid POST /needs body: the household needs meals."""
    defaults = {
        "household_id": household_id,
        "category": "elderly_care.meals",
        "description": "需要助餐",
    }
    return _body(defaults, overrides)


def referral_body(need_id: str, resource_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid POST /referrals body: the need referred to the resource."""
    return _body({"need_id": need_id, "resource_id": resource_id, "note": "请联系"}, overrides)


def referral_event(referral_id: str, version: int, state: str = "completed") -> ReferralEvent:
    """A referral's event as the needs service announces it (a completed one with its outcome)."""
    return ReferralEvent(
        referral_id=referral_id,
        need_id="n-1",
        resource_id="r-1",
        state=state,
        category="elderly_care.meals",
        urgency=3,
        adcode="511523101",
        version=version,
        outcome=ReferralOutcome(result="met", satisfaction=5) if state == "completed" else None,
        occurred_at=datetime.now(UTC),
    )


def referral_consumer(
    name: str, handle: Callable[[ReferralEvent], Awaitable[None]], **options: Any
) -> DurableConsumer[ReferralEvent]:
    """A durable consumer of every referral event on the needs stream (`options`: its
    max_deliver, retry delay...)."""
    return DurableConsumer(
        name=name,
        stream=NEEDS_STREAM.name,
        subject=referral_subject("*"),
        event_type=ReferralEvent,
        handle=handle,
        **options,
    )

"""Events the needs service publishes: ids, codes, coarse location and urgency, never PII."""

from datetime import datetime

from pydantic import BaseModel

NEED_OPENED = "lianjie.needs.need.opened.v1"
NEED_UPDATED = "lianjie.needs.need.updated.v1"
NEED_CLOSED = "lianjie.needs.need.closed.v1"


class NeedEvent(BaseModel):
    """A need changed. `adcode` is the township or county, never the street address."""

    need_id: str
    household_id: str
    category: str
    status: str
    urgency: int
    adcode: str | None
    version: int
    occurred_at: datetime

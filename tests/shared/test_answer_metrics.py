"""The requests a service answers over NATS are counted and timed by subject and status
(`lianjie_nats_answer_seconds`), as its HTTP requests are by route and status."""

import pytest
from pydantic import BaseModel

from shared.errors import RemoteError
from shared.messaging import Bus
from shared.metrics import Metrics
from tests.referrals.domain import bus, nats_url  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
SUBJECT = "lianjie.test.counted.v1"


class Ask(BaseModel):
    n: int


class Answer(BaseModel):
    n: int


class Wrong(BaseModel):
    m: int


def answers(metrics: Metrics, status: str) -> float:
    labels = {"service": "referrals-test", "subject": SUBJECT, "status": status}
    value = metrics.registry.get_sample_value("lianjie_nats_answer_seconds_count", labels)
    return value or 0.0


async def test_answers_are_counted_by_subject_and_status(bus: Bus) -> None:  # noqa: F811
    metrics = Metrics("referrals-test")
    bus.count_answers(metrics)

    async def handle(ask: Ask) -> Answer:
        return Answer(n=ask.n)

    await bus.serve(SUBJECT, queue="test", request_type=Ask, handler=handle)
    for n in range(3):
        assert await bus.request(SUBJECT, Ask(n=n), Answer) == Answer(n=n)
    with pytest.raises(RemoteError) as refused:
        await bus.request(SUBJECT, Wrong(m=1), Answer)  # no `n`: refused, 422
    assert refused.value.status == 422
    assert (answers(metrics, "200"), answers(metrics, "422")) == (3.0, 1.0)

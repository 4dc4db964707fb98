"""The referral's states (转介状态) and the moves between them: the one list every other part
(routes, FHIR, the matcher's contract, the docs and the console's labels) is checked against.

Adding a state is a change here and to the route that moves a referral into it; the test
`tests/referrals/test_states.py` names every other place that must learn it.
"""

from enum import StrEnum


class ReferralState(StrEnum):
    """The states of a referral (转介), in the order a referral usually passes through them."""

    DRAFT = "draft"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    RETURNED = "returned"
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


S = ReferralState
TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.PENDING_REVIEW, S.SENT, S.CANCELLED}),
    S.PENDING_REVIEW: frozenset({S.APPROVED, S.RETURNED, S.CANCELLED}),
    S.APPROVED: frozenset({S.SENT, S.CANCELLED}),
    S.RETURNED: frozenset({S.PENDING_REVIEW, S.CANCELLED}),
    S.SENT: frozenset({S.ACCEPTED, S.DECLINED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.IN_PROGRESS, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.FAILED, S.CANCELLED}),
    S.DECLINED: frozenset(),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}
OPEN_STATES = frozenset(state for state, nexts in TRANSITIONS.items() if nexts)
CLOSED_STATES = frozenset(state for state, nexts in TRANSITIONS.items() if not nexts)
WAITING: dict[str, str] = {S.PENDING_REVIEW: "review", S.SENT: "acceptance"}
"""The states a referral waits in for someone else, and what it waits for."""

ENTERED_BY: dict[str, str] = {
    S.DRAFT: "create",
    S.PENDING_REVIEW: "submit",
    S.APPROVED: "review",
    S.RETURNED: "review",
    S.SENT: "create",
    S.ACCEPTED: "accept",
    S.DECLINED: "decline",
    S.IN_PROGRESS: "start",
    S.COMPLETED: "complete",
    S.FAILED: "fail",
    S.CANCELLED: "cancel",
}
"""The route (`POST /referrals/{id}/<action>`; `create` = `POST /referrals`) and CLI command
(`lianjie referrals <action>`) that moves a referral into each state."""

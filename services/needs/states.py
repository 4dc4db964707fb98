"""The need's states (需求状态) and the moves between them. A need mostly follows its referrals
(`referrals/transitions.sync_need`); a social worker closes or withdraws it."""

from enum import StrEnum


class NeedStatus(StrEnum):
    """The states of a need, in the order a need usually passes through them."""

    OPEN = "open"
    MATCHING = "matching"
    REFERRED = "referred"
    IN_SERVICE = "in_service"
    MET = "met"
    CLOSED_UNMET = "closed_unmet"
    WITHDRAWN = "withdrawn"


CLOSED_NEED_STATES = frozenset({NeedStatus.MET, NeedStatus.CLOSED_UNMET, NeedStatus.WITHDRAWN})

NEED_TRANSITIONS: dict[str, frozenset[str]] = {
    NeedStatus.OPEN: frozenset({"matching", "referred", "closed_unmet", "withdrawn"}),
    NeedStatus.MATCHING: frozenset({"open", "referred", "closed_unmet", "withdrawn"}),
    NeedStatus.REFERRED: frozenset({"open", "matching", "in_service", "closed_unmet", "withdrawn"}),
    NeedStatus.IN_SERVICE: frozenset({"matching", "referred", "met", "closed_unmet", "withdrawn"}),
    NeedStatus.MET: frozenset(),
    NeedStatus.CLOSED_UNMET: frozenset(),
    NeedStatus.WITHDRAWN: frozenset(),
}

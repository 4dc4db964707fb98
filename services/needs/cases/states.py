"""A case's states (服务申请与退出): applied, active while served, exited with a reason; an
exited person may apply again."""

from enum import StrEnum


class CaseStatus(StrEnum):
    """服务申请与退出: a case is applied for, served while active, and exited with a reason."""

    APPLIED = "applied"
    ACTIVE = "active"
    EXITED = "exited"


CASE_TRANSITIONS: dict[str, frozenset[str]] = {
    CaseStatus.APPLIED: frozenset({CaseStatus.ACTIVE, CaseStatus.EXITED}),
    CaseStatus.ACTIVE: frozenset({CaseStatus.EXITED}),
    CaseStatus.EXITED: frozenset({CaseStatus.APPLIED}),
}

"""The needs service's fixed vocabularies: reasons, scopes, sorts. States, with their moves,
are in `states.py` (needs) and `cases/states.py` (cases)."""

from enum import StrEnum


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"


class ExitReason(StrEnum):
    """Why a case left the station's service."""

    GOALS_MET = "goals_met"  # 目标达成
    NO_LONGER_ELIGIBLE = "no_longer_eligible"  # 不再符合条件
    MOVED_AWAY = "moved_away"  # 迁出
    DECEASED = "deceased"  # 去世
    DECLINED = "declined"  # 本人拒绝/申请退出
    TRANSFERRED = "transferred"  # 转介至其他机构
    CONSENT_WITHDRAWN = "consent_withdrawn"  # 撤回同意: the case file may no longer be kept


class ConsentScope(StrEnum):
    """What the person agreed to (知情同意)."""

    CASE_FILE = "case_file"  # keeping the file
    REFERRAL_SHARING = "referral_sharing"  # sharing what a referral needs with a resource
    PHOTOS = "photos"  # photos for records and reports
    SENSITIVE = "sensitive"  # health and disability data: a separate consent (PIPL art. 29)


# Withdrawing one of these stops matches and referrals for the person (PIPL art. 15): the
# case file is what they work from, and a referral shares it with a resource.
REFERRALS_NEED_CONSENT = frozenset({ConsentScope.CASE_FILE, ConsentScope.REFERRAL_SHARING})


class ConsentGiver(StrEnum):
    """Who gave the consent: the person, or their guardian (a child under 14, PIPL art. 31)."""

    SELF = "self"
    GUARDIAN = "guardian"


class VisitFilter(StrEnum):
    """Cases whose next home visit is overdue, or due within the station's window."""

    DUE = "due"
    OVERDUE = "overdue"


class HouseholdSort(StrEnum):
    NEWEST = "-created_at"
    OLDEST = "created_at"
    RECENTLY_CHANGED = "-updated_at"
    ADCODE = "adcode"


class PersonSort(StrEnum):
    NEWEST = "-created_at"
    OLDEST = "created_at"
    TIER = "tier"
    HOUSEHOLD = "household"


class NeedSort(StrEnum):
    NEWEST = "-created_at"
    OLDEST = "created_at"
    MOST_URGENT = "-urgency"
    NEEDED_BY = "needed_by"

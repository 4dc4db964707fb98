"""Settings of the needs service (`LIANJIE_NEEDS_*`)."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.needs.procedures.clocks import DEFAULT_PROCEDURES, StepLimit
from shared.settings import ServiceSettings

# The visit checklist (走访观察项) a county starts from; its own replaces it by setting.
DEFAULT_OBSERVATIONS: dict[str, dict[str, str]] = {
    "lives_alone": {"zh": "独居", "en": "lives alone"},
    "income_lost": {"zh": "收入中断", "en": "income lost"},
    "unemployed_6_months": {"zh": "失业超过6个月", "en": "unemployed more than 6 months"},
    "rarely_goes_out": {"zh": "每周外出少于3次", "en": "goes out fewer than 3 times a week"},
    "sleeps_badly": {"zh": "睡眠差", "en": "sleeps badly"},
    "illness_worse": {"zh": "病情加重", "en": "illness worse"},
    "housing_unsafe": {"zh": "住房不安全", "en": "housing unsafe"},
    "child_unattended": {"zh": "儿童无人照料", "en": "child left unattended"},
    "short_of_food": {"zh": "缺少食物", "en": "short of food"},
}


class ReviewRule(BaseModel):
    """Which referrals the rescue alliance reviews, and by which departments: a referral matches
    when every field given matches (category: that code or under it; organization: the
    resource's organization contains it). The most specific matching rule decides; its `name`
    is the review reason. Empty `departments`: no review for these (amount and minors still)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    category: str | None = None
    resource_kind: str | None = None
    resource_organization: str | None = None
    departments: list[str] = Field(default_factory=list)


# The county's defaults (docs/referrals.md): a bureau reviews what is referred to its own desk;
# other department resources go to civil affairs; medical aid to medical insurance (医保) and
# civil affairs (民政); a station's counselling needs no review.
DEFAULT_REVIEW_RULES = [
    ReviewRule(
        name="department_resource", resource_kind="department", departments=["civil_affairs"]
    ),
    *(
        ReviewRule(
            name="department_resource",
            resource_kind="department",
            resource_organization=bureau,
            departments=[department],
        )
        for bureau, department in (
            ("民政", "civil_affairs"),
            ("教育", "education"),
            ("医疗保障", "medical_insurance"),
            ("医保", "medical_insurance"),
            ("人力资源", "human_resources"),
            ("卫生健康", "health"),
            ("残联", "disabled_persons_federation"),
            ("住房", "housing"),
        )
    ),
    ReviewRule(
        name="medical_aid", category="medical", departments=["medical_insurance", "civil_affairs"]
    ),
    ReviewRule(name="station_counselling", category="psychological.counselling", departments=[]),
]

# Tier 1 is the most intensive care (weekly), tier 5 the lightest (yearly): 分类分级动态服务.
DEFAULT_FOLLOW_UP_DAYS = {1: 7, 2: 30, 3: 90, 4: 180, 5: 365}


class NeedsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIANJIE_NEEDS_", extra="ignore")

    service_name: str = "needs"
    matches_default_k: int = Field(10, ge=1, le=100, description="Matches returned by default")
    tier_follow_up_days: dict[int, int] = Field(
        default_factory=lambda: dict(DEFAULT_FOLLOW_UP_DAYS),
        description='Days between home visits per tier, as JSON: {"1": 7, …, "5": 365}',
    )
    due_window_days: int = Field(
        14, ge=0, le=366, description="How far ahead GET /visits/due looks by default"
    )
    page_size_max: int = Field(
        200,
        ge=1,
        le=1000,
        description="The largest page (`limit`) a list answers: persons, visits, visits due, "
        "need history, access log, referrals",
    )

    observation_checklist: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_OBSERVATIONS.items()},
        description='The visit checklist, as JSON: {"lives_alone": {"zh": "独居", "en": "lives '
        'alone"}, …}; codes are what visits record and early-warning rules test',
    )
    warning_evaluation_interval_s: float = Field(
        3600, gt=0, description="How often early-warning rules are evaluated over every case"
    )

    procedure_limits: dict[str, dict[str, StepLimit]] = Field(
        default_factory=lambda: {
            kind: {name: limit.model_copy() for name, limit in steps.items()}
            for kind, steps in DEFAULT_PROCEDURES.items()
        },
        description='Procedures and the legal limits of their steps, as JSON: {"dibao": '
        '{"decision": {"label_zh": "审批决定", "label_en": "decision", "days": 25, "max_days": '
        '40, "kind": "working", "starts_with_application": true, "next_on": {"refused": '
        '"refusal_notice"}}, …}}; days count Chinese working days unless kind is calendar',
    )
    watch_days: int = Field(
        365,
        ge=1,
        le=3660,
        description="How long a person who left assistance or was refused stays on the watch list",
    )
    aid_unserved_days: int = Field(
        90,
        ge=1,
        le=3660,
        description="A household with open needs and no aid received in this many days is flagged",
    )
    ledger_job_stale_s: float = Field(
        120,
        gt=0,
        description="A ledger import that has not written its progress for this long is marked "
        "interrupted (its process died): the station uploads the ledger again",
    )
    ledger_job_sweep_interval_s: float = Field(
        60, gt=0, description="How often ledger imports left running are looked for"
    )
    procedure_escalation_interval_s: float = Field(
        3600, gt=0, description="How often procedure steps past their limit are escalated"
    )

    @field_validator("procedure_limits")
    @classmethod
    def _next_steps_exist(
        cls, value: dict[str, dict[str, StepLimit]]
    ) -> dict[str, dict[str, StepLimit]]:
        for kind, steps in value.items():
            for name, limit in steps.items():
                for follows in limit.next_on.values():
                    if follows not in steps:
                        raise ValueError(f"{kind}.{name} starts {follows}, which is not a step")
        return value

    @field_validator("observation_checklist")
    @classmethod
    def _checklist_items_have_codes_and_labels(
        cls, value: dict[str, dict[str, str]]
    ) -> dict[str, dict[str, str]]:
        for code, labels in value.items():
            if not code.isidentifier() or not code.islower() or len(code) > 64:
                raise ValueError(f"checklist codes are lower_snake_case: {code!r}")
            if not labels.get("zh") or not labels.get("en"):
                raise ValueError(f"checklist item {code} needs a zh and an en label")
        return value

    @field_validator("tier_follow_up_days")
    @classmethod
    def _every_tier_has_a_positive_interval(cls, value: dict[int, int]) -> dict[int, int]:
        if set(value) != {1, 2, 3, 4, 5} or any(days < 1 for days in value.values()):
            raise ValueError("give tiers 1-5 each a follow-up interval of at least one day")
        return value

    referral_review_amount_threshold: int = Field(
        5000, ge=0, description="Referrals above this many yuan go to the alliance's review"
    )
    referral_overdue_hours: float = Field(
        48, gt=0, description="A referral not reviewed or not accepted in this time is escalated"
    )
    referral_review_department: str = Field(
        "civil_affairs", min_length=1, description="Who reviews when no department is named"
    )
    referral_review_rules: list[ReviewRule] = Field(
        default_factory=lambda: list(DEFAULT_REVIEW_RULES),
        description="Which categories, resource kinds and organizations the alliance reviews and "
        "by which departments, as JSON (docs/referrals.md lists the defaults)",
    )
    county_adcode: str | None = Field(
        None,
        pattern=r"^[0-9]{2,12}$",
        description="The area this deployment serves, usually its county's 6-digit adcode: an "
        "alliance reviewer whose account names no region reviews here (docs/referrals.md); "
        "unset, such a reviewer is refused and cannot be added",
    )
    referral_escalation_interval_s: float = Field(
        60, gt=0, description="How often overdue referrals are looked for and escalated"
    )
    referral_match_lookup_k: int = Field(
        100, ge=1, le=100, description="How deep in the ranking a picked resource is looked for"
    )

    auth_private_key_file: Path | None = Field(
        None, description="PEM private key that signs sign-in tokens (the needs service only)"
    )
    auth_token_ttl_s: int = Field(
        900, ge=30, le=86_400, description="How long a sign-in token stays valid"
    )
    auth_sign_in_attempts: int = Field(
        5, ge=1, description="Wrong passwords in a row, per user name and client, before a lock"
    )
    auth_sign_in_lock_s: float = Field(
        60,
        gt=0,
        description="How long the first sign-in lock lasts (429 with Retry-After); each further "
        "wrong password from that client doubles it",
    )
    auth_sign_in_max_lock_s: float = Field(
        3600,
        gt=0,
        description="The longest sign-in lock; failures older than this are forgotten",
    )
    auth_refresh_ttl_s: int = Field(
        43_200,
        ge=60,
        le=2_592_000,
        description="How long a refresh token (POST /auth/refresh) lives; each use replaces it",
    )

"""Who may call which route of the needs service (see `shared/access.py`, `docs/access.md`)."""

from services.needs import jurisdiction
from shared.access import CASE_READERS, PUBLIC, Policy, Reach, Rule, rule
from shared.auth import Role
from shared.outbox_admin import OUTBOX_RULES

SW, SL, HUB = Role.SOCIAL_WORKER, Role.STATION_LEAD, Role.COUNTY_HUB
COORD, REVIEWER = Role.COORDINATOR, Role.ALLIANCE_REVIEWER

CASE_WRITE = rule(SW, SL, note="case data of the caller's station (household adcode prefix)")
CASE_READ = rule(SW, SL, HUB, note="case data; the county hub reads its whole county")
REFERRAL_READ = rule(
    SW,
    SL,
    HUB,
    COORD,
    REVIEWER,
    note="the referral, not the case: a coordinator's if to their organization's resource, "
    "a reviewer's if their department reviews it, in their region (none: the county's)",
)
RESOURCE_SIDE = rule(
    SW, SL, COORD, note="the resource's answer; a coordinator for their organization's only"
)
RESOURCE_ANSWER = rule(
    SW,
    SL,
    COORD,
    scope=Reach.ANSWER,
    note="a coordinator for their organization's resources; a social worker or station lead "
    "records the answer of a resource without an organization (a volunteer), in their area",
)
PAGED = "paged: `limit` up to LIANJIE_NEEDS_PAGE_SIZE_MAX"

POLICY = Policy(
    "needs",
    {
        ("POST", "/auth/token"): PUBLIC,
        ("POST", "/auth/refresh"): Rule(frozenset(), Reach.NONE, "the refresh token is the key"),
        ("POST", "/auth/logout"): Rule(frozenset(), Reach.NONE, "ends the refresh token's session"),
        ("POST", "/auth/password"): rule(*CASE_READERS, COORD, REVIEWER, scope=Reach.SELF),
        ("GET", "/auth/me"): rule(*CASE_READERS, COORD, REVIEWER, scope=Reach.SELF),
        ("GET", "/users"): rule(
            HUB, note=f"users whose adcode is within the hub's county; {PAGED}"
        ),
        ("POST", "/users"): rule(
            HUB, note="any role but admin, with an adcode within the hub's county"
        ),
        ("POST", "/users/{username}/deactivate"): rule(
            HUB, note="a user of the hub's county (others: 404); ends their tokens"
        ),
        ("POST", "/users/{username}/activate"): rule(HUB, note="a user of the hub's county"),
        ("POST", "/households"): CASE_WRITE,
        ("GET", "/households"): rule(SW, SL, HUB, note=f"of the caller's area; {PAGED}"),
        ("POST", "/households/search"): rule(
            SW, SL, HUB, note=f"by exact ID number or name, in the caller's area; {PAGED}"
        ),
        ("GET", "/households/{household_id}"): CASE_READ,
        ("PATCH", "/households/{household_id}"): CASE_WRITE,
        ("GET", "/households/{household_id}/history"): CASE_READ,
        ("POST", "/households/import"): rule(
            SW, SL, note="a station's ledger; every row checked against the caller's area"
        ),
        ("GET", "/households/imports/{job_id}"): rule(SW, SL, note="the caller's own imports"),
        ("POST", "/households/{household_id}/persons"): CASE_WRITE,
        ("GET", "/households/{household_id}/persons"): CASE_READ,
        ("GET", "/persons"): rule(SW, SL, HUB, note=f"of the caller's area; {PAGED}"),
        ("POST", "/persons/search"): rule(
            SW, SL, HUB, note=f"by exact ID number or name, in the caller's area; {PAGED}"
        ),
        ("GET", "/persons/{person_id}"): CASE_READ,
        ("PATCH", "/persons/{person_id}"): CASE_WRITE,
        ("GET", "/persons/{person_id}/history"): CASE_READ,
        ("GET", "/access-log"): rule(
            HUB, note="unmasked reads of personal data (privacy.py), for the hub's review"
        ),
        ("PUT", "/persons/{person_id}/consent"): CASE_WRITE,
        ("POST", "/persons/{person_id}/consent/withdrawal"): CASE_WRITE,
        ("POST", "/persons/{person_id}/status"): CASE_WRITE,
        ("PUT", "/persons/{person_id}/tier"): CASE_WRITE,
        ("POST", "/persons/{person_id}/visits"): CASE_WRITE,
        ("GET", "/persons/{person_id}/visits"): CASE_READ,
        ("GET", "/visits/due"): CASE_READ,
        ("POST", "/needs"): CASE_WRITE,
        ("GET", "/needs"): rule(SW, SL, HUB, note=f"of the caller's area; {PAGED}"),
        ("GET", "/needs/{need_id}"): CASE_READ,
        ("PATCH", "/needs/{need_id}"): CASE_WRITE,
        ("POST", "/needs/{need_id}/status"): CASE_WRITE,
        ("GET", "/needs/{need_id}/history"): CASE_READ,
        ("POST", "/needs/{need_id}/matches"): CASE_WRITE,
        ("GET", "/stats"): rule(SW, SL, HUB, note="figures of the caller's station or county"),
        ("POST", "/referrals"): CASE_WRITE,
        ("GET", "/referrals"): rule(
            SW,
            SL,
            HUB,
            COORD,
            note="referrals of the caller's station; a coordinator's: those to their "
            f"organization's resources; {PAGED}",
        ),
        ("GET", "/referrals/review-queue"): rule(
            REVIEWER,
            HUB,
            scope=Reach.REVIEW,
            note=f"the reviewer's department, in their region (none: the county's); {PAGED}",
        ),
        ("GET", "/referrals/overdue"): rule(SL, HUB, note=f"of the caller's area; {PAGED}"),
        ("POST", "/referrals/overdue/escalate"): rule(
            HUB, note=f"escalate now; answers the overdue list, {PAGED}"
        ),
        ("GET", "/referrals/overrides"): rule(SL, HUB, note=f"of the caller's area; {PAGED}"),
        ("GET", "/referrals/{referral_id}"): REFERRAL_READ,
        ("GET", "/referrals/{referral_id}/fhir"): REFERRAL_READ,
        ("POST", "/referrals/{referral_id}/submit"): CASE_WRITE,
        ("POST", "/referrals/{referral_id}/review"): rule(
            REVIEWER,
            scope=Reach.REVIEW,
            note="approve or return for the reviewer's department, in their region",
        ),
        ("POST", "/referrals/{referral_id}/accept"): RESOURCE_ANSWER,
        ("POST", "/referrals/{referral_id}/decline"): RESOURCE_ANSWER,
        ("POST", "/referrals/{referral_id}/start"): RESOURCE_SIDE,
        ("POST", "/referrals/{referral_id}/complete"): RESOURCE_SIDE,
        ("POST", "/referrals/{referral_id}/fail"): RESOURCE_SIDE,
        ("POST", "/referrals/{referral_id}/cancel"): CASE_WRITE,
        ("POST", "/needs/{need_id}/claims"): rule(
            COORD,
            scope=Reach.ORGANIZATION,
            note="a micro-wish claimed with a resource of the coordinator's organization",
        ),
        ("GET", "/micro-wishes"): rule(
            SW,
            SL,
            HUB,
            COORD,
            note="unclaimed micro-wishes, no person: a coordinator's from every area, the "
            f"others' from their own; {PAGED}",
        ),
        ("GET", "/referrals/{referral_id}/audit"): rule(SL, HUB, note="audit trail"),
        ("GET", "/observations"): CASE_READ,
        ("POST", "/warning-rules"): rule(HUB, note="the county defines early-warning rules"),
        ("GET", "/warning-rules"): CASE_READ,
        ("POST", "/warning-rules/preview"): rule(
            SL, HUB, note="a count of the persons flagged in the caller's area, no list"
        ),
        ("POST", "/warning-rules/evaluate"): rule(HUB, note="evaluate every rule now"),
        ("GET", "/warning-rules/report"): rule(SL, HUB, note="per rule, in the caller's area"),
        ("GET", "/verification-tasks"): rule(
            SW, SL, HUB, note=f"tasks of the caller's area; {PAGED}"
        ),
        ("POST", "/verification-tasks/{task_id}/close"): CASE_WRITE,
        ("GET", "/procedure-kinds"): CASE_READ,
        ("GET", "/reverse-matches/count"): rule(
            SW,
            SL,
            HUB,
            COORD,
            scope=Reach.ANY,
            note="a count of open needs the resource may serve (the caller's area; a "
            "coordinator's: every area), no persons",
        ),
        ("GET", "/reverse-matches"): rule(
            SW, SL, HUB, note=f"open needs of the caller's area the resource may serve; {PAGED}"
        ),
        ("GET", "/watch-list"): rule(SW, SL, HUB, note=f"of the caller's area; {PAGED}"),
        ("POST", "/watch-list"): rule(
            SW, SL, HUB, note="a partner's flag on a person of the caller's area"
        ),
        ("POST", "/households/{household_id}/benefits"): CASE_WRITE,
        ("GET", "/households/{household_id}/aid-chain"): CASE_READ,
        ("GET", "/aid-chain/flags"): rule(
            SL, HUB, note=f"double aid and needs left waiting, in the caller's area; {PAGED}"
        ),
        ("POST", "/procedures"): CASE_WRITE,
        ("GET", "/procedures/overdue"): rule(SW, SL, HUB, note=f"of the caller's area; {PAGED}"),
        ("GET", "/procedures/{procedure_id}"): CASE_READ,
        ("POST", "/procedures/{procedure_id}/steps/{step}/start"): CASE_WRITE,
        ("POST", "/procedures/{procedure_id}/steps/{step}/done"): CASE_WRITE,
        ("POST", "/procedures/{procedure_id}/steps/{step}/extend"): CASE_WRITE,
        ("GET", "/needs/{need_id}/audit"): rule(SL, HUB, note="audit trail"),
        **OUTBOX_RULES,
    },
    jurisdiction=jurisdiction.check,
)

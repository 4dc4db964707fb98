"""Write docs/access.md from the services' access policies, so the table never drifts from
code; the every-route × every-role test walks the same policies."""

from pathlib import Path

from services.matcher.access import POLICY as MATCHER
from services.needs.access import POLICY as NEEDS
from services.resources.access import POLICY as RESOURCES
from shared.access import Policy
from shared.auth import Role

POLICIES = (NEEDS, RESOURCES, MATCHER)
DOC = Path(__file__).parent.parent / "docs" / "access.md"
SHORT = {
    Role.SOCIAL_WORKER: "社工",
    Role.STATION_LEAD: "站长",
    Role.COUNTY_HUB: "总站",
    Role.COORDINATOR: "资源方",
    Role.ALLIANCE_REVIEWER: "审核",
    Role.ADMIN: "admin",
}
HEADER = """# Who may call what

Generated from `services/<service>/access.py` by `python -m cli.access_doc`; a test fails when
this file is out of date, and another calls every route with every role and checks this table.

Every route needs `Authorization: Bearer <token>` (sign in at `POST /auth/token` on the needs
service) except the sign-in itself, `/healthz`, `/readyz` and `/metrics` (no personal data).
No token, a bad or an expired one → 401 with `WWW-Authenticate`; a role not ticked → 403.

Roles: 社工 `social_worker`, 站长 `station_lead`, 总站 `county_hub`, 资源方 `coordinator`,
审核 `alliance_reviewer`, `admin`. Scope: `station` = case data whose household adcode starts
with the caller's adcode; `organization` = the coordinator's own organization; `review` = the
reviewer's department and region; `answer` = a referral's resource: its organization's
coordinator, or the case side of the referral's area for a resource without an organization;
`any` = nothing personal, every record; `none` = no token.
A record outside the caller's scope → 403 with `"rule": "scope"`; lists are filtered to it.

A referral records its resource's organization (asked of the resources service when it is
made): a coordinator reads and acts only on referrals of their own organization, and answers
(accept, decline) for a resource without an organization come from the case side of its area.
A coordinator's resource import is checked row by row against their organization.
"""


def _table(policy: Policy) -> str:
    roles = list(Role)
    head = "| method | path | " + " | ".join(SHORT[r] for r in roles) + " | scope | note |"
    rule_line = "|---|---|" + "---|" * len(roles) + "---|---|"
    lines = [f"## {policy.service}", "", head, rule_line]
    for (method, path), rule in policy.rules.items():
        ticks = " | ".join(
            "open" if rule.public else ("✓" if r in rule.roles else "") for r in roles
        )
        lines.append(f"| {method} | `{path}` | {ticks} | {rule.scope.value} | {rule.note} |")
    return "\n".join(lines)


def render() -> str:
    """The whole document."""
    return HEADER + "\n" + "\n\n".join(_table(p) for p in POLICIES) + "\n"


if __name__ == "__main__":
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}")

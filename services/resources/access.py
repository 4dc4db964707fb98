"""Who may call which route of the resources service (see `shared/access.py`)."""

from services.resources import jurisdiction
from shared.access import ALL_ROLES, Policy, Reach, rule
from shared.auth import Role

COORD, HUB = Role.COORDINATOR, Role.COUNTY_HUB

READ = rule(
    *ALL_ROLES, scope=Reach.ANY, note="the library is no secret; contacts masked (privacy.py)"
)
OWN = rule(COORD, scope=Reach.ORGANIZATION, note="resources of the coordinator's organization")
IMPORT = rule(
    COORD,
    scope=Reach.ORGANIZATION,
    note="every row of the coordinator's organization, else nothing is imported",
)

HSDS_READ = (
    "services",
    "services/{service_id}",
    "organizations",
    "organizations/{organization_id}",
    "service_at_locations",
)

POLICY = Policy(
    "resources",
    {
        ("POST", "/resources"): OWN,
        ("GET", "/resources"): READ,
        ("GET", "/resources/duplicates"): rule(COORD, HUB, scope=Reach.ANY, note="for review"),
        ("GET", "/resources/export"): rule(
            COORD, HUB, scope=Reach.ANY, note="whole library; contacts in full only with ?purpose="
        ),
        ("POST", "/resources/import"): IMPORT,
        ("POST", "/resources/import/rows"): IMPORT,
        ("GET", "/resources/{resource_id}"): rule(
            *ALL_ROLES,
            scope=Reach.ANY,
            note="contact in full with ?purpose= for social worker, station lead, county hub, "
            "coordinator (own organization); logged",
        ),
        **{("GET", f"/hsds/{path}"): READ for path in HSDS_READ},
        ("GET", "/access-log"): rule(
            HUB, scope=Reach.ANY, note="unmasked reads of contacts (privacy.py), for review"
        ),
        ("PUT", "/resources/{resource_id}"): OWN,
        ("PATCH", "/resources/{resource_id}"): OWN,
        ("POST", "/resources/{resource_id}/deactivate"): OWN,
        ("POST", "/resources/{resource_id}/activate"): OWN,
        ("POST", "/resources/{resource_id}/duplicate/dismiss"): OWN,
        ("POST", "/capacity/{operation}"): rule(
            scope=Reach.ANY, note="operators only: services use NATS"
        ),
    },
    jurisdiction=jurisdiction.check,
)

"""Who may call which route of the resources service (see `shared/access.py`)."""

from services.resources import jurisdiction
from shared.access import ALL_ROLES, Policy, Reach, rule
from shared.auth import Role

COORD, HUB = Role.COORDINATOR, Role.COUNTY_HUB

READ = rule(*ALL_ROLES, scope=Reach.ANY, note="the resource library is no secret")
OWN = rule(COORD, scope=Reach.ORGANIZATION, note="resources of the coordinator's organization")

POLICY = Policy(
    "resources",
    {
        ("POST", "/resources"): OWN,
        ("GET", "/resources"): READ,
        ("GET", "/resources/duplicates"): rule(COORD, HUB, scope=Reach.ANY, note="for review"),
        ("GET", "/resources/export"): rule(COORD, HUB, scope=Reach.ANY, note="whole library"),
        ("POST", "/resources/import"): OWN,
        ("POST", "/resources/import/rows"): OWN,
        ("GET", "/resources/{resource_id}"): READ,
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

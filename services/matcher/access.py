"""Who may call which route of the matcher (see `shared/access.py`)."""

from shared.access import Policy, Reach, rule
from shared.auth import Role

SW, SL, HUB = Role.SOCIAL_WORKER, Role.STATION_LEAD, Role.COUNTY_HUB

POLICY = Policy(
    "matcher",
    {
        ("POST", "/rank"): rule(SW, SL, HUB, scope=Reach.ANY, note="ranks public resources"),
        ("GET", "/index"): rule(HUB, scope=Reach.ANY, note="index status, no personal data"),
        ("POST", "/model/reload"): rule(scope=Reach.ANY, note="operators"),
    },
)

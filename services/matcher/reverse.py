"""Reverse matching (政策找人): which needs one resource may serve, by the very hard filters that
rank resources for a need (`ranking.feasible`), so the two directions never disagree."""

import numpy as np

from services.matcher.index import ResourceIndex
from services.matcher.ranking import FILTERS, feasible
from shared.contracts.matcher import (
    RankRequest,
    ReverseMatch,
    ReverseReply,
    ReverseRequest,
)


def qualifying(*, index: ResourceIndex, request: ReverseRequest) -> ReverseReply:
    """The candidates for which the resource passes every hard filter, in the order given."""
    slot = index.columns.slots.get(request.resource_id)
    if slot is None:
        return ReverseReply(resource_id=request.resource_id, known=False, matches=[])
    only = np.array([slot], dtype=np.int64)
    matches = []
    for candidate in request.candidates:
        query = RankRequest(
            category=candidate.category,
            lat=candidate.lat,
            lon=candidate.lon,
            adcode=candidate.adcode,
            quantity=candidate.quantity,
            groups=candidate.groups,
            k=1,
        )
        passed = feasible(columns=index.columns, query=query, slots=only)
        if len(passed.slots):
            matches.append(
                ReverseMatch(
                    id=candidate.id,
                    distance_km=float(passed.distance[0]),
                    category_fit=float(passed.fit[0]),
                    filters_passed=list(FILTERS),
                )
            )
    return ReverseReply(resource_id=request.resource_id, known=True, matches=matches)

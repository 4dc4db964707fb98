"""The hard filters are masks over the candidates: which candidates pass, and the distance and
fit kept for each, do not depend on the order the filters run in (reach first, then the record
checks: `ranking.feasible`) nor on which other candidates are checked with it."""

import numpy as np

from services.matcher.index import ResourceIndex
from services.matcher.ranking import distance_km, feasible
from tests.matcher.test_exactness import random_world


def test_each_candidate_passes_or_fails_alone_with_the_same_distance_and_fit() -> None:
    states, needs = random_world(3, 1000)
    index = ResourceIndex()
    for s in states:
        index.apply(s)
    slots = index.all_slots()
    passed_somewhere = failed_reach = failed_records = 0
    for need in needs[:20]:
        together = feasible(columns=index.columns, query=need, slots=slots)
        alone = [feasible(columns=index.columns, query=need, slots=slots[i : i + 1]) for i in slots]
        kept = [one for one in alone if len(one.slots)]
        assert together.slots.tolist() == [int(one.slots[0]) for one in kept]
        # Bit for bit: a value computed in a long array equals the one computed on its own.
        assert together.distance.tolist() == [float(one.distance[0]) for one in kept]
        assert together.fit.tolist() == [float(one.fit[0]) for one in kept]
        assert np.array_equal(together.rows, index.columns.rows.take(together.slots))
        passed_somewhere += len(kept)
        # Both stages reject candidates in this data (no adcode: reach is distance alone).
        assert need.adcode is None
        distance = distance_km(index.columns.rows[: len(slots)], need.lat, need.lon)
        in_reach = distance <= index.columns.rows["radius_km"][: len(slots)]
        if need.max_distance_km is not None:
            in_reach &= distance <= need.max_distance_km
        failed_reach += int((~in_reach).sum())
        failed_records += int(in_reach.sum()) - len(together.slots)
    assert passed_somewhere > 100
    assert failed_reach > 1000 and failed_records > 100

"""Reverse matching (政策找人) agrees with ranking: a resource qualifies for a need exactly when
it passes every hard filter for it (checked from first principles), and exactly when the
forward ranking of that need, asked deep enough, lists the resource."""

from hypothesis import given
from hypothesis import strategies as st

from services.matcher.index import ResourceIndex
from services.matcher.ranking import rank_resources
from services.matcher.reverse import qualifying
from shared.contracts.matcher import RankRequest, ReverseCandidate, ReverseRequest
from shared.contracts.resources import ResourceUpserted
from tests.matcher.factories import CENTER, PARAMS
from tests.matcher.test_properties import (
    CATEGORIES,
    GROUPS,
    SETTINGS,
    offsets,
    resource_states,
    violations,
)


@st.composite
def needs(draw: st.DrawFn, need_id: str) -> ReverseCandidate:
    return ReverseCandidate(
        id=need_id,
        category=draw(st.sampled_from(CATEGORIES)),
        lat=CENTER[0] + draw(offsets),
        lon=CENTER[1] + draw(offsets),
        adcode=draw(st.none() | st.sampled_from(["511523101", "511524100"])),
        quantity=draw(st.integers(1, 3)),
        groups=draw(st.lists(st.sampled_from(GROUPS), max_size=2)),
    )


def _query(need: ReverseCandidate, k: int = 100) -> RankRequest:
    return RankRequest(
        category=need.category,
        lat=need.lat,
        lon=need.lon,
        adcode=need.adcode,
        quantity=need.quantity,
        groups=need.groups,
        k=k,
    )


@SETTINGS
@given(
    resources=st.lists(st.integers(0, 11), min_size=1, max_size=12, unique=True).flatmap(
        lambda ids: st.tuples(*(resource_states(f"r{i}") for i in ids))
    ),
    candidates=st.lists(st.integers(0, 30), max_size=15, unique=True).flatmap(
        lambda ids: st.tuples(*(needs(f"n{i}") for i in ids))
    ),
)
def test_reverse_matching_equals_brute_force_and_the_forward_ranking(
    resources: tuple[ResourceUpserted, ...], candidates: tuple[ReverseCandidate, ...]
) -> None:
    index = ResourceIndex(rebuild_min_pending=1)
    for resource in resources:
        index.apply(resource)
    index.rebuild_all()
    for resource in resources:
        reply = qualifying(
            index=index,
            request=ReverseRequest(resource_id=resource.resource_id, candidates=list(candidates)),
        )
        assert reply.known
        found = [m.id for m in reply.matches]
        brute = [c.id for c in candidates if not violations(resource, _query(c))]
        assert found == brute  # same set, in the order given
        forward = [
            c.id
            for c in candidates
            if resource.resource_id
            in {
                r.resource_id
                for r in rank_resources(index=index, query=_query(c), params=PARAMS).results
            }
        ]
        assert found == forward


def test_an_unknown_resource_is_said_so() -> None:
    reply = qualifying(
        index=ResourceIndex(), request=ReverseRequest(resource_id="nope", candidates=[])
    )
    assert reply.known is False and reply.matches == []

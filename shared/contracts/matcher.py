"""The matcher's request-reply contract: rank resources for a need."""

from pydantic import BaseModel, Field

from shared.contracts.common import CategoryCode, FiniteFloat, Latitude, Longitude, Urgency
from shared.contracts.resources import ResourceKind

RANK = "lianjie.matcher.rank.v1"
MATCHER_QUEUE = "matcher"


class RankRequest(BaseModel):
    """What a need asks of the matcher. Carries codes and a location, never who the person is."""

    category: CategoryCode
    lat: Latitude
    lon: Longitude
    adcode: str | None = Field(None, description="Division code where the need lies")
    quantity: int = Field(1, ge=1)
    urgency: Urgency = 3
    groups: list[str] = Field(default_factory=list, description="The person's groups")
    text: str = Field("", max_length=2000, description="Free-text description of the need")
    exclude: list[str] = Field(default_factory=list, description="Resource ids to leave out")
    k: int = Field(10, ge=1, le=100)
    max_distance_km: FiniteFloat | None = Field(None, gt=0)


class Reranking(BaseModel):
    """How the learned re-ranker placed a resource among the top candidates of the hand score."""

    model_id: str
    probability: FiniteFloat = Field(description="The model's probability of a good outcome")
    hand_rank: int = Field(ge=1, description="Position by the hand-weighted score alone")


class Explanation(BaseModel):
    """Why a resource is where it is: every score component and every hard filter it passed."""

    components: dict[str, FiniteFloat]
    weights: dict[str, FiniteFloat]
    filters_passed: list[str]
    category_offered: str
    reranker: Reranking | None = Field(
        None, description="Set when a learned re-ranker ordered the results; else the score did"
    )


class RankedResource(BaseModel):
    resource_id: str
    name: str
    kind: ResourceKind
    score: FiniteFloat
    distance_km: FiniteFloat
    capacity_remaining: int
    capacity_unit: str
    explanation: Explanation


class RankReply(BaseModel):
    results: list[RankedResource]
    candidates_considered: int
    index_size: int
    answered_by: str | None = Field(None, description="Which matcher replica answered")


REVERSE = "lianjie.matcher.reverse.v1"
REVERSE_MAX_CANDIDATES = 5000


class ReverseCandidate(BaseModel):
    """An open need as reverse matching sees it: codes and a location, never who it is for."""

    id: str = Field(min_length=1, max_length=64)
    category: CategoryCode
    lat: Latitude
    lon: Longitude
    adcode: str | None = None
    quantity: int = Field(1, ge=1)
    groups: list[str] = Field(default_factory=list)


class ReverseRequest(BaseModel):
    """Which of these needs may one resource serve (政策找人: the policy finds its people)?"""

    resource_id: str = Field(min_length=1, max_length=64)
    candidates: list[ReverseCandidate] = Field(max_length=REVERSE_MAX_CANDIDATES)


class ReverseMatch(BaseModel):
    """A need the resource passes every hard filter for, with the distance and category fit."""

    id: str
    distance_km: FiniteFloat
    category_fit: FiniteFloat
    filters_passed: list[str]


class ReverseReply(BaseModel):
    resource_id: str
    known: bool = Field(description="False: the matcher's index has no such resource")
    matches: list[ReverseMatch]

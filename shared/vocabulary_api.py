"""`GET /categories`, `/groups`, `/resource-kinds`, `/hardship-types`, `/tiers`, `/capacity-units`,
`/capacity-periods`, `/capacity-modes`: every coded vocabulary with its zh-CN and English labels,
on every service (public code lists, nothing personal: no token needed)."""

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shared.contracts.vocabulary import ALL, Vocabulary


class TermOut(BaseModel):
    code: str
    zh: str = Field(description="The label in Chinese, as users see it and may send it")
    en: str
    aliases: list[str] = Field(default_factory=list, description="Also accepted on input")
    parent: str | None = Field(None, description="Categories: the top-level category")


class VocabularyOut(BaseModel):
    name: str
    rule: str = Field(description="The rule a value outside this vocabulary breaks (422)")
    items: list[TermOut]


def _out(vocabulary: Vocabulary) -> VocabularyOut:
    items = [
        TermOut(code=t.code, zh=t.zh, en=t.en, aliases=list(t.aliases), parent=t.parent)
        for t in vocabulary.terms.values()
    ]
    return VocabularyOut(name=vocabulary.name, rule=vocabulary.rule, items=items)


def _listing(answer: VocabularyOut, what: str) -> Callable[[], Awaitable[VocabularyOut]]:
    async def listing() -> VocabularyOut:
        return answer

    listing.__doc__ = f"The {what} vocabulary: codes with zh-CN and English labels."
    return listing


def vocabulary_router() -> APIRouter:
    """One GET route per vocabulary."""
    router = APIRouter(tags=["vocabularies"])
    for name, vocabulary in ALL.items():
        router.add_api_route(
            f"/{name}",
            _listing(_out(vocabulary), vocabulary.what),
            methods=["GET"],
            response_model=VocabularyOut,
            name=f"list_{name.replace('-', '_')}",
        )
    return router

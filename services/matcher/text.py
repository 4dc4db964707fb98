"""Text relevance: TF-IDF over character 1- and 2-grams, which needs no Chinese tokenizer.

Document frequencies are kept up to date as resources come and go, so no refit is needed.
A document's grams are not stored: at a million resources they would outweigh everything else
the index keeps. They are counted again from the document's text when a query with text needs
them (see `ranking`, which asks only for the candidates that can still reach the top k).
Counting is done by `collections.Counter`, sets and `re`, in C: it is the bulk of the work
of taking in a resource.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from operator import add

NGRAM_SIZES = (1, 2)
_SKIP = re.compile("[" + re.escape(" \t\n\r,.;:!?，。；：！？、（）()《》“”\"'") + "]")
# A document's count of one gram saturates here (it was stored in 4 bits once; scores must not
# change with the storage).
_COUNT_MAX = 15

QueryWeights = tuple[dict[str, float], float]
"""A weighed query: TF-IDF weight by gram (known grams only) and the query's norm."""


def _chars(text: str) -> str:
    """The characters n-grams are made of: lower case, punctuation and spaces dropped."""
    return _SKIP.sub("", text.lower())


def ngrams(text: str) -> Counter[str]:
    """Term counts of a text's character n-grams: unigrams first, then bigrams, each in order
    of first appearance."""
    chars = _chars(text)
    grams = Counter(chars)
    grams.update(map(add, chars, chars[1:]))
    return grams


def distinct_ngrams(text: str) -> set[str]:
    """The n-grams of a text, each once (what document frequencies count; cheaper than
    `ngrams` when the counts are not needed)."""
    chars = _chars(text)
    grams = set(chars)
    grams.update(map(add, chars, chars[1:]))
    return grams


class TextModel:
    """Document frequencies of the indexed descriptions, and cosine similarity under them."""

    def __init__(self) -> None:
        self.df: Counter[str] = Counter()
        self.documents = 0
        self._idf: dict[str, float] = {}

    def add(self, grams: Iterable[str]) -> None:
        """Count a document in (its grams from `distinct_ngrams`)."""
        self.df.update(grams)  # not a mapping: counted in C, once per gram
        self.documents += 1
        self._idf.clear()

    def add_documents(self, names: list[str], descriptions: list[str]) -> None:
        """Count in the documents `f"{name} {description}"` (as `add` of each one's
        `distinct_ngrams`), where few distinct descriptions are shared by many names.

        Why: the grams of a shared description are counted once per use in one step; only a
        name's own grams (and the bigram across the join) are gathered one document at a time.
        A document's characters are its name's followed by its description's (`_chars` drops
        the joining space, and lower-casing looks across no space), so its distinct grams are
        the description's, and the name's and the join's that the description lacks.
        """
        df = self.df
        shared: dict[str, tuple[set[str], str]] = {}
        for description, uses in Counter(descriptions).items():
            chars = _chars(description)
            grams = distinct_ngrams(description)
            shared[description] = (grams, chars[:1])
            for gram in grams:
                df[gram] += uses
        owns: list[str] = []  # every document's own grams, counted in one call (in C)
        for name, description in zip(names, descriptions, strict=True):
            grams, first = shared[description]
            chars = _chars(name)
            own = set(chars)
            own.update(map(add, chars, chars[1:]))
            if chars and first:
                own.add(chars[-1] + first)
            own -= grams
            owns.extend(own)
        df.update(owns)
        self.documents += len(names)
        self._idf.clear()

    def remove(self, grams: Iterable[str]) -> None:
        """Count a document out again."""
        self.df.subtract(grams)
        self.documents -= 1
        self._idf.clear()

    def _idf_of(self, df: int) -> float:
        return math.log((1 + self.documents) / (1 + df)) + 1.0

    def idf(self, gram: str) -> float:
        cached = self._idf.get(gram)
        if cached is None:
            cached = self._idf[gram] = self._idf_of(self.df[gram])
        return cached

    def weigh(self, text: str) -> QueryWeights:
        """TF-IDF weights of a query text and their Euclidean norm (unknown grams count too)."""
        weights: dict[str, float] = {}
        norm2 = 0.0
        for gram, count in ngrams(text).items():
            if self.df.get(gram, 0) > 0:
                weight = weights[gram] = count * self.idf(gram)
            else:
                weight = count * self._idf_of(0)
            norm2 += weight * weight
        return weights, math.sqrt(norm2)

    def similarity(self, query: QueryWeights, text: str) -> float:
        """Cosine similarity of a weighed query and a document's text, in [0, 1]."""
        q_weights, q_norm = query
        if not q_weights:
            return 0.0
        dot = norm2 = 0.0
        for gram, count in ngrams(text).items():
            weight = min(count, _COUNT_MAX) * self.idf(gram)
            norm2 += weight * weight
            q_weight = q_weights.get(gram)
            if q_weight is not None:
                dot += q_weight * weight
        if not norm2:
            return 0.0
        return min(1.0, dot / (q_norm * math.sqrt(norm2)))

"""Text relevance: TF-IDF over character 1- and 2-grams, which needs no Chinese tokenizer.

Document frequencies are kept up to date as resources come and go, so no refit is needed.
A document is stored compactly as an `array('I')` of packed terms, `gram_id << 4 | count`
(4 bytes a term instead of a dict entry), with gram ids from one shared vocabulary.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter

NGRAM_SIZES = (1, 2)
_SKIP = set(" \t\n\r,.;:!?，。；：！？、（）()《》“”\"'")
_COUNT_BITS = 4
_COUNT_MAX = (1 << _COUNT_BITS) - 1

QueryWeights = tuple[dict[int, float], float]
"""A weighed query: TF-IDF weight by gram id (known grams only) and the query's norm."""


def ngrams(text: str) -> Counter[str]:
    """Term counts of a text's character n-grams (punctuation and spaces dropped)."""
    chars = [c for c in text.lower() if c not in _SKIP]
    grams: Counter[str] = Counter()
    for size in NGRAM_SIZES:
        grams.update("".join(chars[i : i + size]) for i in range(len(chars) - size + 1))
    return grams


class TextModel:
    """Document frequencies of the indexed descriptions, and cosine similarity under them."""

    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}
        self.df: list[int] = []
        self.documents = 0
        self._idf: dict[int, float] = {}

    def encode(self, text: str) -> array[int]:
        """A text as packed terms, growing the vocabulary with grams not seen before."""
        terms = array("I")
        for gram, count in ngrams(text).items():
            gram_id = self.vocabulary.get(gram)
            if gram_id is None:
                gram_id = self.vocabulary[gram] = len(self.df)
                self.df.append(0)
            terms.append(gram_id << _COUNT_BITS | min(count, _COUNT_MAX))
        return terms

    def add(self, terms: array[int]) -> None:
        for term in terms:
            self.df[term >> _COUNT_BITS] += 1
        self.documents += 1
        self._idf.clear()

    def remove(self, terms: array[int]) -> None:
        for term in terms:
            self.df[term >> _COUNT_BITS] -= 1
        self.documents -= 1
        self._idf.clear()

    def _idf_of(self, df: int) -> float:
        return math.log((1 + self.documents) / (1 + df)) + 1.0

    def idf(self, gram_id: int) -> float:
        cached = self._idf.get(gram_id)
        if cached is None:
            cached = self._idf[gram_id] = self._idf_of(self.df[gram_id])
        return cached

    def weigh(self, text: str) -> QueryWeights:
        """TF-IDF weights of a query text and their Euclidean norm (unknown grams count too)."""
        weights: dict[int, float] = {}
        norm2 = 0.0
        for gram, count in ngrams(text).items():
            gram_id = self.vocabulary.get(gram)
            if gram_id is None:
                weight = count * self._idf_of(0)
            else:
                weight = weights[gram_id] = count * self.idf(gram_id)
            norm2 += weight * weight
        return weights, math.sqrt(norm2)

    def similarity(self, query: QueryWeights, terms: array[int]) -> float:
        """Cosine similarity of a weighed query and a document's packed terms, in [0, 1]."""
        q_weights, q_norm = query
        if not q_weights or not terms:
            return 0.0
        dot = norm2 = 0.0
        for term in terms:
            gram_id = term >> _COUNT_BITS
            weight = (term & _COUNT_MAX) * self.idf(gram_id)
            norm2 += weight * weight
            q_weight = q_weights.get(gram_id)
            if q_weight is not None:
                dot += q_weight * weight
        if not norm2:
            return 0.0
        return min(1.0, dot / (q_norm * math.sqrt(norm2)))

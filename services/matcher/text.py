"""Text relevance: TF-IDF over character 1- and 2-grams, which needs no Chinese tokenizer.

Document frequencies are kept up to date as resources come and go, so no refit is needed.
"""

import math
from collections import Counter

NGRAM_SIZES = (1, 2)
_SKIP = set(" \t\n\r,.;:!?，。；：！？、（）()《》“”\"'")


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
        self.df: Counter[str] = Counter()
        self.documents = 0

    def add(self, grams: Counter[str]) -> None:
        self.df.update(grams.keys())
        self.documents += 1

    def remove(self, grams: Counter[str]) -> None:
        self.df.subtract(grams.keys())
        self.documents -= 1

    def idf(self, gram: str) -> float:
        return math.log((1 + self.documents) / (1 + self.df.get(gram, 0))) + 1.0

    def weigh(self, grams: Counter[str]) -> tuple[dict[str, float], float]:
        """TF-IDF weights of a document and their Euclidean norm."""
        weights = {g: tf * self.idf(g) for g, tf in grams.items()}
        return weights, math.sqrt(sum(w * w for w in weights.values()))

    def similarity(self, query: tuple[dict[str, float], float], grams: Counter[str]) -> float:
        """Cosine similarity of a weighed query and a document's n-grams, in [0, 1]."""
        q_weights, q_norm = query
        if not q_norm or not grams:
            return 0.0
        d_weights, d_norm = self.weigh(grams)
        if not d_norm:
            return 0.0
        dot = sum(w * d_weights[g] for g, w in q_weights.items() if g in d_weights)
        return min(1.0, dot / (q_norm * d_norm))

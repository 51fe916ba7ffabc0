"""word2phrase collocations (Mikolov et al. 2013): ``new york`` -> ``new_york``.

A bigram ``a b`` becomes one token when

    score = (n_ab - delta) / (n_a * n_b) * N  >  threshold

with N the number of tokens and delta a discount (word2phrase's min_count)
that keeps rare pairs out. Repeating the pass joins longer phrases
(``new_york_times``). Counting is distributed by Spark; scoring and joining
are these pure functions.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

DELIMITER = "_"


def phrase_score(n_a: int, n_b: int, n_ab: int, total: int, delta: float) -> float:
    return (n_ab - delta) / (n_a * n_b) * total


def count_ngrams(sentences: Iterable[list[str]]) -> tuple[Counter, Counter]:
    """Unigram and adjacent-bigram counts of a sequence of token lists."""
    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    for tokens in sentences:
        unigrams.update(tokens)
        bigrams.update(zip(tokens, tokens[1:]))
    return unigrams, bigrams


def find_phrases(unigrams: Counter, bigrams: Counter, threshold: float, min_count: int) -> set[tuple[str, str]]:
    """Bigrams scoring above ``threshold``; words seen fewer than ``min_count`` times never join."""
    total = sum(unigrams.values())
    return {(a, b) for (a, b), n_ab in bigrams.items()
            if n_ab >= min_count and unigrams[a] >= min_count and unigrams[b] >= min_count
            and phrase_score(unigrams[a], unigrams[b], n_ab, total, min_count) > threshold}


def join_phrases(tokens: list[str], phrases: set[tuple[str, str]] | frozenset[tuple[str, str]]) -> list[str]:
    """Join phrase bigrams left to right; a token joins at most once per pass, as in word2phrase."""
    out: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        if i + 1 < n and (tokens[i], tokens[i + 1]) in phrases:
            out.append(tokens[i] + DELIMITER + tokens[i + 1])
            i += 2
        else:
            out.append(tokens[i])
            i += 1
    return out

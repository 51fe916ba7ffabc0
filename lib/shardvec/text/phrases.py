"""word2phrase collocations (Mikolov et al. 2013): ``new york`` -> ``new_york``.

A bigram ``a b`` becomes one token when

    score = (n_ab - delta) / (n_a * n_b) * N  >  threshold

with N the number of tokens and delta a discount (word2phrase's min_count)
that keeps rare pairs out. Repeating the pass joins longer phrases
(``new_york_times``). Counting is distributed by Spark; scoring and joining
are these pure functions.
"""

from __future__ import annotations

from typing import TypeVar

DELIMITER = "_"
Count = TypeVar("Count")  # a number, or a Spark column


def phrase_score(n_a: Count, n_b: Count, n_ab: Count, total: Count, delta: Count) -> Count:
    """The score above; Spark's pass scores its columns with this very formula, so the two cannot drift."""
    return (n_ab - delta) / (n_a * n_b) * total  # type: ignore[operator]


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

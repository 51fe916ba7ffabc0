"""Single-process references for what prepare computes with Spark.

The product never runs these: Spark computes the same things as joins and
aggregations (:mod:`shardvec.spark.dedup`, :mod:`shardvec.spark.phrases`).
The tests hold the pure pieces and the Spark code to them.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import numpy as np

from shardvec.text.phrases import phrase_score


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """The share of equal MinHash values: the similarity near dedup compares with its threshold."""
    return float(np.mean(np.asarray(sig_a) == np.asarray(sig_b)))


def components_by_search(edges: list[tuple[str, str]]) -> dict[str, str]:
    """Node -> smallest node of its component, by walking the undirected graph from each unvisited node."""
    neighbours: dict[str, set[str]] = {}
    for u, v in edges:
        neighbours.setdefault(u, set()).add(v)
        neighbours.setdefault(v, set()).add(u)
    found: dict[str, str] = {}
    for start in sorted(neighbours):
        if start in found:
            continue
        component, stack = {start}, [start]
        while stack:
            for n in neighbours[stack.pop()] - component:
                component.add(n)
                stack.append(n)
        found.update(dict.fromkeys(component, min(component)))
    return found


def representative_order(length: int, doc_id: str) -> tuple[int, str]:
    """Sort key of a duplicate group: its first member is kept (longest, then smallest id)."""
    return (-length, doc_id)


def count_ngrams(sentences: Iterable[list[str]]) -> tuple[Counter, Counter]:
    """Unigram and adjacent-bigram counts of a sequence of token lists."""
    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    for tokens in sentences:
        unigrams.update(tokens)
        bigrams.update(zip(tokens, tokens[1:]))
    return unigrams, bigrams


def phrases_from_counts(unigrams: Counter, bigrams: Counter, threshold: float,
                        min_count: int) -> set[tuple[str, str]]:
    """Bigrams scoring above ``threshold``; words seen fewer than ``min_count`` times never join."""
    total = sum(unigrams.values())
    return {(a, b) for (a, b), n_ab in bigrams.items()
            if n_ab >= min_count and unigrams[a] >= min_count and unigrams[b] >= min_count
            and phrase_score(unigrams[a], unigrams[b], n_ab, total, min_count) > threshold}

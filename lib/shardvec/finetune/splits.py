"""Train/dev/test splits and label-budget subsets, reproducible from one seed.

Splits are stratified by each example's first label so that small classes
appear in every split in proportion; sentence splits (tagging) are plain
random, since a sentence has no single class. Budget subsets take the same
share of every class, and a budget that would leave some class with fewer than
two training examples is refused rather than silently run on a degenerate
task.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

MIN_EXAMPLES_PER_CLASS = 2


@dataclass(frozen=True)
class Split:
    """Indices (into the examples) of each split."""

    train: np.ndarray
    dev: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "dev": len(self.dev), "test": len(self.test)}


def _groups(strata: list[str] | None, n: int) -> list[np.ndarray]:
    """Index groups to sample within: one per stratum, or everything as one."""
    if strata is None:
        return [np.arange(n)]
    by_key: dict[str, list[int]] = {}
    for i, key in enumerate(strata):
        by_key.setdefault(key, []).append(i)
    return [np.array(by_key[k]) for k in sorted(by_key)]


def split_indices(n: int, strata: list[str] | None, dev_fraction: float, test_fraction: float,
                  seed: int) -> Split:
    """Carve dev and test shares out of ``n`` examples, keeping at least one per group in train."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "dev": [], "test": []}
    for group in _groups(strata, n):
        order = rng.permutation(group)
        n_test = int(round(len(order) * test_fraction))
        n_dev = int(round(len(order) * dev_fraction))
        while n_test + n_dev >= len(order) and n_test + n_dev > 0:
            if n_dev >= n_test:
                n_dev -= 1
            else:
                n_test -= 1
        parts["test"].append(order[:n_test])
        parts["dev"].append(order[n_test:n_test + n_dev])
        parts["train"].append(order[n_test + n_dev:])
    return Split(**{k: np.sort(np.concatenate(v)).astype(np.int64) for k, v in parts.items()})


def budget_subset(train: np.ndarray, strata: list[str] | None, fraction: float, seed: int) -> np.ndarray:
    """``fraction`` of the training examples (the same share of every stratum)."""
    if fraction >= 1.0:
        return train
    rng = np.random.default_rng(seed)
    local = None if strata is None else [strata[i] for i in train]
    chosen = [rng.permutation(g)[:int(round(len(g) * fraction))] for g in _groups(local, len(train))]
    return np.sort(train[np.concatenate(chosen)])


def too_rare(label_counts: Counter, classes: list[str]) -> list[str]:
    """Classes with fewer than :data:`MIN_EXAMPLES_PER_CLASS` examples in a training subset."""
    return [c for c in classes if label_counts.get(c, 0) < MIN_EXAMPLES_PER_CLASS]

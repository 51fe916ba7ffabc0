"""Train/dev/test splits and label-budget subsets, reproducible from one seed.

Splits are stratified by each example's first label so that small classes
appear in every split in proportion; sentence splits (tagging) are plain
random, since a sentence has no single class. Budget subsets take the same
share of every class with a floor per class (``finetune.min_per_class``): a
class of 40 examples still appears at a 1% budget, so the low end of a
learning curve exists on real data with rare classes. A budget is refused only
when some class has fewer examples than the floor in the whole training split.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence
from dataclasses import dataclass

import numpy as np

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


def budget_subset(train: np.ndarray, unit_labels: Sequence[Sequence[str]], stratified: bool, fraction: float,
                  floor: int, seed: int) -> np.ndarray:
    """``fraction`` of the training units, with every label at least ``floor`` times where train allows.

    Stratified (documents): the same share of every first-label group, but at
    least ``floor`` units of it. Then, for any label still below the floor
    (a second label of multi-label data; a tag, whose sentences are drawn
    plainly), units carrying it are added in a seeded order until it reaches
    the floor or train runs out of them.
    """
    if fraction >= 1.0:
        return train
    rng = np.random.default_rng(seed)
    local = [unit_labels[i] for i in train]
    groups = _groups([labels[0] for labels in local], len(train)) if stratified else [np.arange(len(train))]
    chosen = [rng.permutation(g)[:min(len(g), max(int(round(len(g) * fraction)), floor if stratified else 0))]
              for g in groups]
    picked = set(np.concatenate(chosen).tolist())
    counts = Counter(label for i in picked for label in local[i])
    for label in sorted({label for labels in local for label in labels}):
        if counts[label] >= floor:
            continue
        for i in rng.permutation(len(train)):
            if counts[label] >= floor:
                break
            if i not in picked and label in local[i]:
                picked.add(int(i))
                counts.update(local[i])
    return np.sort(train[np.fromiter(picked, dtype=np.int64, count=len(picked))])


def short_classes(label_counts: Counter, floor: int) -> list[str]:
    """Labels with fewer than ``floor`` examples: no budget below the full split can hold ``floor`` of them."""
    return sorted(label for label, n in label_counts.items() if n < floor)


def fold_units(units: np.ndarray, unit_labels: Sequence[Sequence[str]], stratified: bool, k: int,
               seed: int) -> list[np.ndarray]:
    """``units`` dealt into ``k`` folds (fewer when there are fewer units), stratified by first label.

    Each class is dealt round-robin from a seeded permutation, continuing
    where the previous class stopped, so folds differ in size by at most one
    and a class of two lands in two different folds.
    """
    k = max(1, min(k, len(units)))
    rng = np.random.default_rng(seed)
    groups = _groups([unit_labels[u][0] for u in units], len(units)) if stratified else [np.arange(len(units))]
    parts: list[list[int]] = [[] for _ in range(k)]
    dealt = 0
    for group in groups:
        for i in rng.permutation(group):
            parts[dealt % k].append(int(units[i]))
            dealt += 1
    return [np.sort(np.array(p, dtype=np.int64)) for p in parts]

"""A selection score that early stopping has not flattered: each half of the held-out units scored at the
epoch the other half chose.

A fit keeps its best epoch on the held-out examples (dev, or a
cross-validation fold), so its score there is the best of up to ``epochs``
noisy scores: an optimistic estimate, the more so the more epochs and the
fewer examples. Settings compared on such scores favour whatever has the
most epochs to pick from; the baseline (one fit) and the ensemble (no epoch
of its own) then lose by the bias, not by what they predict. On the
benchmark sets the ensemble had the best test scores at the full budget on
both sets rerun, yet dev chose it at one budget of eight.

So a fit also splits its held-out units into two halves and keeps, for the
units of each half, the probabilities of the epoch that was best on the
other half. Their score over all held-out units is the fit's selection score,
and they are what the ensemble averages: every epoch choice behind them was
made on other units than the ones scored, at no extra training. The model
kept for test is still the epoch best on all held-out units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from shardvec.finetune.task import Task

@dataclass(frozen=True)
class Halves:
    """Two halves of the held-out units, as masks over their examples, and each half's scorer."""

    masks: tuple[np.ndarray, np.ndarray]
    scorers: tuple[Callable[[np.ndarray], float], Callable[[np.ndarray], float]]

    @classmethod
    def of(cls, task: Task, units: np.ndarray, seed: int) -> Halves | None:
        """Halves of ``units`` drawn with ``seed`` (None below two units: nothing to split)."""
        if len(units) < 2:
            return None
        first = np.random.default_rng(seed).permutation(len(units)) % 2 == 0
        per_example = np.repeat(first, task.offsets[units + 1] - task.offsets[units])
        parts = (units[first], units[~first])  # each in the held-out order, as its examples are
        return cls((per_example, ~per_example), (scorer(task, parts[0]), scorer(task, parts[1])))


def scorer(task: Task, units: np.ndarray) -> Callable[[np.ndarray], float]:
    """The task's headline score of predictions for the examples of ``units``."""
    return lambda predicted: task.score(units, predicted)[task.metric]


class CrossFit:
    """Follows a fit epoch by epoch: each half's probabilities at the epoch best on the other half."""

    def __init__(self, halves: Halves):
        self.halves = halves
        self.best: list[tuple | None] = [None, None]
        self.probabilities: np.ndarray | None = None

    def observe(self, probabilities: np.ndarray, key: Callable[[np.ndarray, Callable[[np.ndarray], float]],
                                                               tuple]) -> None:
        """One epoch's held-out ``probabilities``; ``key(mask, scorer)`` ranks the epoch on the rows of
        ``mask``, higher is better (ties keep the earlier epoch)."""
        if self.probabilities is None:
            self.probabilities = np.array(probabilities, copy=True)
        for h, (mask, score_half) in enumerate(zip(self.halves.masks, self.halves.scorers)):
            ranked = key(mask, score_half)
            if self.best[h] is None or ranked > self.best[h]:
                self.best[h] = ranked
                other = self.halves.masks[1 - h]
                self.probabilities[other] = probabilities[other]

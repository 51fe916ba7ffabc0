"""How each setting and budget chooses among its candidates: on dev, or by cross-validation on its own examples.

Two cases make one dev split a poor judge. A dev split of a few dozen
examples ranks candidates by noise (the demo's sentiment set has 20). And at
a label budget of 1% or 5%, a dev split many times larger than the training
labels is what a user with that budget would not have: choosing on it
overstates what the budget buys. In both cases (``select_by = "auto"``: dev
below ``cv_dev_below`` examples, or a budget of at most ``cv_budget_upto``)
each candidate is scored by ``cv_folds``-fold cross-validation on the
budget's own training examples, in every repeat: each fold trains on the
others and early-stops on itself, and the candidate's score is the mean of
the folds' kept scores. The winner's final fit then trains on all of the
budget's examples for the median of the folds' kept epochs; dev only
records its scores.

Either way a fit's selection score is cross-fitted by default
(:mod:`shardvec.finetune.heldout`): each half of its held-out units scored at
the epoch that the other half chose.

Choosing among settings (:func:`best_of`): the highest selection score
wins only when it stands out from the noise. Macro-F1 on 1,400-2,000 dev
documents has a standard error of about 0.013, and on the benchmark sets
the settings' full-budget scores were often 0.001-0.005 apart, so the order
among them was a coin toss. Among the settings within ``noise_band``
standard errors of the best score (``sqrt(s (1 - s) / n)`` for ``n``
held-out examples, the binomial error used as a rough guide for F1 too, as
:mod:`shardvec.finetune.verdict` does), the lowest held-out cross-entropy
wins: the same held-out predictions judged by a smooth proper score instead
of a count of right decisions, so far less noisy. ``noise_band = 0`` keeps
the highest score (ties: the lower loss).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Selection:
    by: str  # auto, dev or cv (finetune.select_by)
    folds: int
    dev_below: int  # auto: cross-validate when dev has fewer examples than this
    budget_upto: float  # auto: cross-validate at budgets up to this share
    cross_fit: bool = True  # selection scores cross-fitted on two halves of the held-out units (finetune.cross_fit)
    noise_band: float = 1.0  # settings within this many standard errors of the best score: lowest loss wins

    def method(self, dev_examples: int, budget: float) -> str:
        """``dev`` or ``cv`` for one budget."""
        if self.by != "auto":
            return self.by
        return "cv" if dev_examples < self.dev_below or budget <= self.budget_upto else "dev"

    def describe(self, method: str) -> str:
        if method == "dev":
            return "dev split"
        return f"{self.folds}-fold cross-validation on the budget's training examples"


def best_of(points: dict[str, dict[str, Any]], noise_band: float) -> str:
    """Among curve points of one budget (name -> point with ``selection_score``, ``selection_loss`` and
    ``held_examples``), the one to choose: the lowest loss within ``noise_band`` standard errors of the best
    score."""
    def ranked(name: str) -> tuple[float, float]:
        return points[name]["selection_score"], -points[name]["selection_loss"]

    top = max(points, key=ranked)
    score, n = points[top]["selection_score"], max(points[top]["held_examples"], 1)
    floor = score - noise_band * math.sqrt(max(score * (1 - score), 0.0) / n)
    near = [name for name in points if points[name]["selection_score"] >= floor]
    return min(near, key=lambda name: (-ranked(name)[1], -ranked(name)[0]))

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
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Selection:
    by: str  # auto, dev or cv (finetune.select_by)
    folds: int
    dev_below: int  # auto: cross-validate when dev has fewer examples than this
    budget_upto: float  # auto: cross-validate at budgets up to this share
    cross_fit: bool = True  # selection scores cross-fitted on two halves of the held-out units (finetune.cross_fit)

    def method(self, dev_examples: int, budget: float) -> str:
        """``dev`` or ``cv`` for one budget."""
        if self.by != "auto":
            return self.by
        return "cv" if dev_examples < self.dev_below or budget <= self.budget_upto else "dev"

    def describe(self, method: str) -> str:
        if method == "dev":
            return "dev split"
        return f"{self.folds}-fold cross-validation on the budget's training examples"

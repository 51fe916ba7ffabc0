"""The ``ensemble`` setting: the mean of some settings' predicted probabilities, chosen like any setting.

Why: the settings see a document through different parts (pretrained,
adapted or target-trained vectors, the lexical part; the baseline's TF-IDF
logistic regression) and make different errors. On the benchmark sets the
dev-chosen setting missed the best anchor five times by 0.004-0.014, and
in three of them another setting of the same report would have won (a different one
on each set); averaging their probabilities keeps what each knows without
a choice among them.

No model is trained for it. Each member keeps, at every budget and repeat,
its chosen candidate's probabilities on the held-out examples that chose it
(dev, or each cross-validation fold: folds depend only on the seed, the
budget and the repeat, so every member holds out the very same examples),
on dev and on test. Their means give the ensemble's selection, dev and test
scores on the same footing as a member's, so it is the best setting only
when its selection score says so (``finetune.ensemble`` names the members).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shardvec.finetune.classifier import ClassWeights, cross_entropy, decide
from shardvec.finetune.curve import TEST_METRICS, point, summary

if TYPE_CHECKING:
    from shardvec.finetune.task import Task

NAME = "ensemble"
Held = list[tuple[np.ndarray, np.ndarray]]  # (held-out units, probabilities of their examples), in order


@dataclass
class Outputs:
    """One setting's probabilities at one budget, from the runs it kept."""

    method: str  # how the budget chose: dev or cv
    held: Held  # per repeat (dev) or per repeat and fold (cv)
    dev: list[np.ndarray]  # the dev examples', per repeat
    test: list[np.ndarray]  # the test examples', per repeat
    seconds: list[float]  # each repeat's training time


class Ensemble:
    """Sums the members' probabilities as their curves finish, then scores their mean.

    Only the sums are kept, not every member's arrays: a tag task's test
    probabilities are a row per token.
    """

    def __init__(self) -> None:
        self.members: list[str] = []
        self.sums: dict[float, Outputs] = {}

    def add(self, name: str, outputs: dict[float, Outputs]) -> None:
        """Add a member's probabilities (none: it is not a member)."""
        if not outputs:
            return
        for budget, out in outputs.items():
            sums = self.sums.get(budget)
            if sums is None:
                self.sums[budget] = Outputs(out.method, [(u, p.astype(np.float64)) for u, p in out.held],
                                            [p.astype(np.float64) for p in out.dev],
                                            [p.astype(np.float64) for p in out.test], list(out.seconds))
                continue
            if sums.method != out.method or len(sums.held) != len(out.held) or \
                    any(not np.array_equal(a, b) for (a, _), (b, _) in zip(sums.held, out.held)):
                raise ValueError(f"{name} held out other examples than {', '.join(self.members)} at budget {budget}")
            for (_, total), (_, p) in zip(sums.held, out.held):
                total += p
            for totals, probabilities in ((sums.dev, out.dev), (sums.test, out.test)):
                for total, p in zip(totals, probabilities):
                    total += p
            sums.seconds = [a + b for a, b in zip(sums.seconds, out.seconds)]
        self.members.append(name)

    def summary(self, task: Task, train_units: dict[float, list[int]]) -> dict[str, Any]:
        """The ensemble's report entry, shaped like a setting's."""
        n, curve, first_test = len(self.members), [], {}
        for budget, sums in self.sums.items():
            held = [_score(task, units, p / n) for units, p in sums.held]
            runs = []
            for repeat, (dev, test) in enumerate(zip(sums.dev, sums.test)):
                metrics = task.score(task.split.test, decide(test / n, task.multilabel))
                runs.append({"repeat": repeat, "train_units": train_units[budget][repeat],
                             "dev_score": _score(task, task.split.dev, dev / n), "test_score": metrics[task.metric],
                             "seconds": round(sums.seconds[repeat], 3),
                             "test": {k: metrics[k] for k in TEST_METRICS if k in metrics}})
                if budget == 1.0 and repeat == 0:
                    first_test = metrics
            curve.append({**point(budget, train_units[budget][0], runs, members=self.members, choice=f"mean of {n}",
                                  selection=sums.method, selection_score=round(float(np.mean(held)), 5), search=[]),
                          "seconds": round(sum(sums.seconds), 3)})
        targets = task.targets[task.examples(task.split.dev)]
        unweighted = ClassWeights.of("none", targets, task.multilabel)  # only a tie-breaker between settings
        dev_loss = float(np.mean([cross_entropy(p / n, targets, unweighted, task.multilabel)
                                  for p in self.sums[curve[-1]["budget"]].dev]))
        return {"description": f"mean of the probabilities of {', '.join(self.members)}", "members": self.members,
                **summary(curve, dev_loss, first_test), "seconds": round(sum(c["seconds"] for c in curve), 2)}


def _score(task: Task, units: np.ndarray, probabilities: np.ndarray) -> float:
    return task.score(units, decide(probabilities, task.multilabel))[task.metric]


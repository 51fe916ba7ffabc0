"""The ``ensemble`` setting: a weighted mean of some settings' predicted probabilities, chosen like any setting.

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
on dev and on test. Their weighted means give the ensemble's selection, dev
and test scores on the same footing as a member's, so it is the best setting
only when its selection score says so (``finetune.ensemble`` names the members).

Why weights, chosen per budget (``finetune.ensemble_weights = "greedy"``):
with every member weighed alike, the mean had the best test scores of all
settings at the full budgets of two sets, but at 1 % the mean of five was
weaker than its best member, where the weakest members are far behind.
Greedy ensemble selection (Caruana et al., ICML 2004; AutoGluon's weighted
ensemble) adds, with replacement, the member whose addition most raises the
held-out score (ties: the lower loss), and stops when no addition raises
it; a member's weight is the share of the additions it won. A member that
only adds noise gets no weight. Choosing weights on the held-out examples
flatters them there, so the selection score is cross-fitted as a fit's is
(:mod:`shardvec.finetune.heldout`): each half of every repeat's or fold's
held-out units is scored with the weights chosen on the other half. Dev and
test use the weights chosen on all held-out units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from shardvec.finetune.classifier import ClassWeights, cross_entropy, decide
from shardvec.finetune.curve import TEST_METRICS, point, summary
from shardvec.finetune.heldout import scorer

if TYPE_CHECKING:
    from shardvec.finetune.heldout import Halves
    from shardvec.finetune.task import Task

NAME = "ensemble"
WEIGHTINGS = ("greedy", "equal")
Held = list[tuple[np.ndarray, np.ndarray]]  # (held-out units, probabilities of their examples), in order
HalvesOf = Callable[[float, int, np.ndarray], "Halves | None"]  # (budget, entry, units) -> halves of the units
Rank = Callable[[list[np.ndarray]], tuple[float, float]]  # per-entry probabilities -> (score, -loss)


@dataclass
class Outputs:
    """One setting's probabilities at one budget, from the runs it kept."""

    method: str  # how the budget chose: dev or cv
    held: Held  # per repeat (dev) or per repeat and fold (cv)
    dev: list[np.ndarray]  # the dev examples', per repeat
    test: list[np.ndarray]  # the test examples', per repeat
    seconds: list[float]  # each repeat's training time


class Ensemble:
    """Keeps the members' probabilities as their curves finish, then weighs and scores them per budget.

    Every member's arrays are kept until the weights are known (as float32:
    a tag task's test probabilities are a row per token).
    """

    def __init__(self, weighting: str = "greedy") -> None:
        if weighting not in WEIGHTINGS:
            raise ValueError(f"ensemble weighting must be one of {', '.join(WEIGHTINGS)}, not {weighting!r}")
        self.weighting = weighting
        self.members: list[str] = []
        self.outputs: dict[float, list[Outputs]] = {}

    def add(self, name: str, outputs: dict[float, Outputs]) -> None:
        """Add a member's probabilities (none: it is not a member)."""
        if not outputs:
            return
        for budget, out in outputs.items():
            first = self.outputs.get(budget, [out])[0]
            if first.method != out.method or len(first.held) != len(out.held) or \
                    any(not np.array_equal(a, b) for (a, _), (b, _) in zip(first.held, out.held)):
                raise ValueError(f"{name} held out other examples than {', '.join(self.members)} at budget {budget}")
        for budget, out in outputs.items():
            self.outputs.setdefault(budget, []).append(Outputs(
                out.method, [(u, p.astype(np.float32)) for u, p in out.held], [p.astype(np.float32) for p in out.dev],
                [p.astype(np.float32) for p in out.test], list(out.seconds)))
        self.members.append(name)

    def summary(self, task: Task, train_units: dict[float, list[int]], halves_of: HalvesOf) -> dict[str, Any]:
        """The ensemble's report entry, shaped like a setting's. ``halves_of`` splits a budget's held-out
        entry for the cross-fitted selection score (None: scored with the weights chosen on all of it)."""
        curve, first_test, dev_loss = [], {}, 0.0
        for budget, outs in self.outputs.items():
            held = [[o.held[e][1] for o in outs] for e in range(len(outs[0].held))]  # per entry, per member
            units = [u for u, _ in outs[0].held]
            weights = self.weights(held, _ranker(task, units))
            selection = self._selection_score(task, units, held, [halves_of(budget, e, u) for e, u in
                                                                  enumerate(units)])
            runs, dev_losses = [], []
            for repeat in range(len(outs[0].dev)):
                dev = mix([o.dev[repeat] for o in outs], weights)
                test = mix([o.test[repeat] for o in outs], weights)
                metrics = task.score(task.split.test, decide(test, task.multilabel))
                runs.append({"repeat": repeat, "train_units": train_units[budget][repeat],
                             "dev_score": _score(task, task.split.dev, dev), "test_score": metrics[task.metric],
                             "seconds": round(sum(o.seconds[repeat] for o in outs), 3),
                             "test": {k: metrics[k] for k in TEST_METRICS if k in metrics}})
                dev_losses.append(_loss(task, task.split.dev, dev))  # only a tie-breaker between settings
                if budget == 1.0 and repeat == 0:
                    first_test = metrics
            used = {m: round(float(w), 4) for m, w in zip(self.members, weights) if w > 0}
            curve.append({**point(budget, train_units[budget][0], runs, members=self.members, weights=used,
                                  choice=f"{self.weighting} mean of {len(used)}", selection=outs[0].method,
                                  selection_score=round(selection, 5), search=[]),
                          "seconds": round(sum(r["seconds"] for r in runs), 3)})
            dev_loss = float(np.mean(dev_losses))
        return {"description": f"{self.weighting}-weighted mean of the probabilities of {', '.join(self.members)}",
                "members": self.members, "weighting": self.weighting,
                **summary(curve, dev_loss, first_test), "seconds": round(sum(c["seconds"] for c in curve), 2)}

    def weights(self, held: list[list[np.ndarray]], rank: Rank) -> np.ndarray:
        """Each member's weight (summing to 1), from its probabilities on every held-out entry."""
        if self.weighting == "equal":
            return np.full(len(held[0]), 1.0 / len(held[0]))
        return greedy_weights(held, rank)

    def _selection_score(self, task: Task, units: list[np.ndarray], held: list[list[np.ndarray]],
                         halves: list[Halves | None]) -> float:
        """The mean held-out score over entries; cross-fitted when weights are chosen and every entry splits."""
        if self.weighting == "equal" or any(h is None for h in halves):
            weights = self.weights(held, _ranker(task, units))
            return float(np.mean([_score(task, u, mix(entry, weights)) for u, entry in zip(units, held)]))
        mixed = [np.empty(entry[0].shape, dtype=np.float64) for entry in held]
        for h in (0, 1):
            chosen_on = [[p[hv.masks[h]] for p in entry] for entry, hv in zip(held, halves)]
            parts = [(hv.scorers[h], task.targets[task.examples(u)][hv.masks[h]]) for u, hv in zip(units, halves)]
            weights = self.weights(chosen_on, _rank(task, parts))
            for out, entry, hv in zip(mixed, held, halves):
                other = hv.masks[1 - h]
                out[other] = mix([p[other] for p in entry], weights)
        return float(np.mean([_score(task, u, p) for u, p in zip(units, mixed)]))


def greedy_weights(held: list[list[np.ndarray]], rank: Rank, max_steps: int | None = None) -> np.ndarray:
    """Caruana's greedy selection with replacement: each member's share of the additions that raised
    ``rank`` of the mean (``held[e][m]``: member m's probabilities on entry e). The first addition always
    happens (the best member alone); ties between members go to the earlier one."""
    n_members = len(held[0])
    counts = np.zeros(n_members)
    totals = [np.zeros(entry[0].shape, dtype=np.float64) for entry in held]
    best = None
    for step in range(max_steps or 4 * n_members):
        trials = [rank([(t + entry[m]) / (step + 1) for t, entry in zip(totals, held)]) for m in range(n_members)]
        m = max(range(n_members), key=lambda i: trials[i])
        if best is not None and trials[m] <= best:
            break
        best = trials[m]
        counts[m] += 1
        for t, entry in zip(totals, held):
            t += entry[m]
    return counts / counts.sum()


def mix(probabilities: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The weighted mean of the members' probabilities (members of weight 0 are skipped)."""
    out = np.zeros(probabilities[0].shape, dtype=np.float64)
    for p, w in zip(probabilities, weights):
        if w > 0:
            out += w * p
    return out


def _ranker(task: Task, units: list[np.ndarray]) -> Rank:
    return _rank(task, [(scorer(task, u), task.targets[task.examples(u)]) for u in units])


def _rank(task: Task, parts: list[tuple[Callable[[np.ndarray], float], np.ndarray]]) -> Rank:
    """Mean score and negated mean loss over the entries' ``(scorer, targets)``: higher is better."""
    unweighted = ClassWeights.of("none", parts[0][1], task.multilabel)

    def rank(probabilities: list[np.ndarray]) -> tuple[float, float]:
        scores = [score(decide(p, task.multilabel)) for (score, _), p in zip(parts, probabilities)]
        losses = [cross_entropy(p, t, unweighted, task.multilabel) for (_, t), p in zip(parts, probabilities)]
        return float(np.mean(scores)), -float(np.mean(losses))
    return rank


def _score(task: Task, units: np.ndarray, probabilities: np.ndarray) -> float:
    return task.score(units, decide(probabilities, task.multilabel))[task.metric]


def _loss(task: Task, units: np.ndarray, probabilities: np.ndarray) -> float:
    targets = task.targets[task.examples(units)]
    return cross_entropy(probabilities, targets, ClassWeights.of("none", targets, task.multilabel), task.multilabel)

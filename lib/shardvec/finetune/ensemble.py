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
and test scores on the same footing as a member's (``finetune.ensemble``
names the members; :mod:`shardvec.finetune.recommend` says when it is the
recommended setting).

Why weights, chosen per budget (``finetune.ensemble_weights = "greedy"``):
with every member weighed alike, the mean had the best test scores of all
settings at the full budgets of two sets, but at 1 % the mean of five was
weaker than its best member, where the weakest members are far behind.
Greedy ensemble selection (Caruana et al., ICML 2004; AutoGluon's weighted
ensemble) adds, with replacement, the member whose addition most raises the
held-out score (at an equal score: lowers the loss by more than a rounding
error), and stops when no addition does, or after four additions per
member; a member's weight is the share of the additions it won. A member
that only adds noise gets no weight. The baseline may join an ensemble but
not lead it (be the first addition): an ensemble of the baseline alone
would be the baseline under another name, and the baseline is compared,
never chosen. Choosing weights on the held-out examples flatters them
there, so the selection score is cross-fitted as a fit's is
(:mod:`shardvec.finetune.heldout`): each half of every repeat's or fold's
held-out units is scored with the weights chosen on the other half (a fold
of one unit, which cannot be halved, counts in one half). Dev and test use
the weights chosen on all held-out units. On the benchmark sets the weights
kept only the best members at 1 % (test macro-F1 WordNet 0.172 against the
plain mean's 0.156, fortunes 0.166 against 0.139) and moved the other
budgets by at most 0.008 (``bench/RESULTS.md``).

Why a prior power (``finetune.ensemble_prior_powers``), where the headline
is macro-F1: the members learn from draws in which big classes outnumber
small ones (their loss weighs a class by ``1 / sqrt(n_c)``, not fully
balanced), so their probabilities lean to the big classes, which is right
for accuracy but not for macro-F1, where every class counts the same. The
mixed probabilities are divided by the training split's class shares to a power
chosen with the weights on the held-out units (and cross-fitted with them;
0 among the powers leaves them as they are), then renormalized: the logit
adjustment of Menon et al. (ICLR 2021) applied after training. On Brown
genres it raised test macro-F1 at 1 %, 5 % and 100 % (0.169 -> 0.177,
0.224 -> 0.271, 0.298 -> 0.315), on the fortunes at 5 % and 25 % (0.212 ->
0.231, 0.376 -> 0.396); on WordNet the held-out units chose no power at
three budgets of four, and at 5 % it traded accuracy (0.539 -> 0.518) for
macro-F1 (0.320 -> 0.321) (``bench/RESULTS.md``).

Every member's arrays are kept until the weights are known, as float32 (a
tag task's test probabilities are a row per token: members x budgets x
repeats x tokens x tags of them).
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
    """Keeps the members' probabilities as their curves finish, then weighs and scores them per budget."""

    def __init__(self, weighting: str = "greedy", prior_powers: tuple[float, ...] = (0.0,)) -> None:
        if weighting not in WEIGHTINGS:
            raise ValueError(f"ensemble weighting must be one of {', '.join(WEIGHTINGS)}, not {weighting!r}")
        if not prior_powers or min(prior_powers) < 0:
            raise ValueError(f"ensemble prior powers must be one or more numbers >= 0, not {list(prior_powers)}")
        self.weighting = weighting
        self.prior_powers = tuple(sorted(set(prior_powers)))  # ties go to the smallest
        self.members: list[str] = []
        self.leads: list[bool] = []  # whether each member may be the first addition
        self.outputs: dict[float, list[Outputs]] = {}
        self.held_out: dict[float, Held] = {}  # per budget, the cross-fitted mean on the held-out units

    def add(self, name: str, outputs: dict[float, Outputs], lead: bool = True) -> None:
        """Add a member's probabilities (none: it is not a member); ``lead``: it may be the first addition."""
        if not outputs:
            return
        if self.members and set(outputs) != set(self.outputs):
            raise ValueError(f"{name} ran other budgets than {', '.join(self.members)}")
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
        self.leads.append(lead)

    def summary(self, task: Task, draws: dict[float, list[np.ndarray]], halves_of: HalvesOf) -> dict[str, Any]:
        """The ensemble's report entry, shaped like a setting's. ``draws``: each budget's training units per
        repeat; ``halves_of`` splits a budget's held-out entry for the cross-fitted selection score (None:
        it cannot be halved)."""
        curve, first_test, dev_loss = [], {}, 0.0
        prior = class_shares(task) if task.metric == "macro_f1" and not task.multilabel else None
        for budget, outs in self.outputs.items():
            held = [[o.held[e][1] for o in outs] for e in range(len(outs[0].held))]  # per entry, per member
            units = [u for u, _ in outs[0].held]
            weights, power = self.choose(held, _ranker(task, units), prior)
            mixed = self._held_out(task, units, held, [halves_of(budget, e, u) for e, u in enumerate(units)],
                                   (weights, power), prior)
            self.held_out[budget] = list(zip(units, mixed))
            selection = [_score(task, u, p) for u, p in zip(units, mixed)]
            runs, dev_losses = [], []
            for repeat in range(len(outs[0].dev)):
                dev = adjust(mix([o.dev[repeat] for o in outs], weights), prior, power)
                test = adjust(mix([o.test[repeat] for o in outs], weights), prior, power)
                metrics = task.score(task.split.test, decide(test, task.multilabel))
                runs.append({"repeat": repeat, "train_units": len(draws[budget][repeat]),
                             "dev_score": _score(task, task.split.dev, dev), "test_score": metrics[task.metric],
                             "seconds": round(sum(o.seconds[repeat] for o in outs), 3),
                             "test": {k: metrics[k] for k in TEST_METRICS if k in metrics}})
                dev_losses.append(_loss(task, task.split.dev, dev))  # only a tie-breaker between settings
                if budget == 1.0 and repeat == 0:
                    first_test = metrics
            used = {m: round(float(w), 4) for m, w in zip(self.members, weights) if w > 0}
            adjusted = f"; prior power {power:g}" if power else ""
            curve.append({**point(budget, len(draws[budget][0]), runs, members=self.members, weights=used,
                                  prior_power=power,
                                  choice=f"{self.weighting}: " + ", ".join(f"{m} {w:.2f}" for m, w in used.items())
                                  + adjusted,
                                  selection=outs[0].method,
                                  selection_score=round(float(np.mean(selection)), 5),
                                  selection_scores=[round(s, 5) for s in selection], search=[]),
                          "seconds": round(sum(r["seconds"] for r in runs), 3)})
            dev_loss = float(np.mean(dev_losses))
        return {"description": f"{self.weighting}-weighted mean of the probabilities of {', '.join(self.members)}",
                "members": self.members, "weighting": self.weighting,
                **summary(curve, dev_loss, first_test), "seconds": round(sum(c["seconds"] for c in curve), 2)}

    def weights(self, held: list[list[np.ndarray]], rank: Rank) -> np.ndarray:
        """Each member's weight (summing to 1), from its probabilities on every held-out entry."""
        if self.weighting == "equal":
            return np.full(len(held[0]), 1.0 / len(held[0]))
        return greedy_weights(held, rank, self.leads)

    def choose(self, held: list[list[np.ndarray]], rank: Rank, prior: np.ndarray | None) -> tuple[np.ndarray, float]:
        """The members' weights, then the prior power that ranks their mean best (0 without a prior)."""
        weights = self.weights(held, rank)
        if prior is None:
            return weights, 0.0
        mixed = [mix(entry, weights) for entry in held]
        return weights, max(self.prior_powers, key=lambda power: rank([adjust(p, prior, power) for p in mixed]))

    def _held_out(self, task: Task, units: list[np.ndarray], held: list[list[np.ndarray]],
                  halves: list[Halves | None], chosen: tuple[np.ndarray, float],
                  prior: np.ndarray | None) -> list[np.ndarray]:
        """Each entry's held-out probabilities: each half's mixed with the weights (and prior power) chosen
        on the other half, an entry that cannot be halved counting in half 0; with ``chosen`` (on all)
        where nothing is chosen (equal weights, one power or no prior) or nothing can be halved."""
        fixed = self.weighting == "equal" and (prior is None or len(self.prior_powers) == 1)
        if fixed or all(h is None for h in halves):
            return [adjust(mix(entry, chosen[0]), prior, chosen[1]) for entry in held]
        whole = [(np.ones(len(entry[0]), dtype=bool), np.zeros(len(entry[0]), dtype=bool)) for entry in held]
        masks = [hv.masks if hv is not None else w for hv, w in zip(halves, whole)]
        scorers = [hv.scorers if hv is not None else (scorer(task, u), None) for hv, u in zip(halves, units)]
        mixed = [np.empty(entry[0].shape, dtype=np.float64) for entry in held]
        for h in (0, 1):
            on = [e for e, m in enumerate(masks) if m[h].any()]
            parts = [(scorers[e][h], task.targets[task.examples(units[e])][masks[e][h]]) for e in on]
            weights, power = self.choose([[p[masks[e][h]] for p in held[e]] for e in on], _rank(task, parts), prior)
            for out, entry, m in zip(mixed, held, masks):
                out[m[1 - h]] = adjust(mix([p[m[1 - h]] for p in entry], weights), prior, power)
        return mixed


def greedy_weights(held: list[list[np.ndarray]], rank: Rank, leads: list[bool] | None = None,
                   max_steps: int | None = None) -> np.ndarray:
    """Caruana's greedy selection with replacement: each member's share of the additions that raised
    ``rank`` of the mean (``held[e][m]``: member m's probabilities on entry e). The first addition always
    happens, among the members that ``leads`` allows (default: all); ties between members go to the
    earlier one. At most ``max_steps`` additions (default: four per member)."""
    n_members = len(held[0])
    counts = np.zeros(n_members)
    totals = [np.zeros(entry[0].shape, dtype=np.float64) for entry in held]
    best = None
    allowed = [m for m in range(n_members) if leads is None or leads[m]] or list(range(n_members))
    for step in range(4 * n_members if max_steps is None else max_steps):
        trials = {m: rank([(t + entry[m]) / (step + 1) for t, entry in zip(totals, held)]) for m in allowed}
        m = max(trials, key=lambda i: trials[i])
        if best is not None and not _raises(trials[m], best):
            break
        best = trials[m]
        counts[m] += 1
        allowed = list(range(n_members))
        for t, entry in zip(totals, held):
            t += entry[m]
    return counts / counts.sum()


def _raises(new: tuple[float, float], old: tuple[float, float]) -> bool:
    """A higher score, or at an equal score a loss lower by more than a rounding error."""
    return new[0] > old[0] or (new[0] == old[0] and new[1] - old[1] > 1e-9 * max(abs(old[1]), 1.0))


def mix(probabilities: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The weighted mean of the members' probabilities (members of weight 0 are skipped)."""
    out = np.zeros(probabilities[0].shape, dtype=np.float64)
    for p, w in zip(probabilities, weights):
        if w > 0:
            out += w * p
    return out


def class_shares(task: Task) -> np.ndarray:
    """Each class's share of the training split's examples, never below one example's share.

    Why the split's and not a budget draw's: the draws are stratified from
    the split, so it is the distribution every budget stands for (and the
    one test comes from); a small draw's own shares are bent by the floor of
    ``min_per_class`` (at 5 % of WordNet, 2 of ~700 examples for a class of
    2 in 14,003), and with them the held-out folds chose a stronger power
    that lowered test macro-F1 (0.312 against 0.321) and accuracy (0.483
    against 0.518) there (``bench/RESULTS.md``).
    """
    targets = task.targets[task.examples(task.split.train)]
    return np.maximum(targets.mean(axis=0), 1.0 / len(targets))


def adjust(probabilities: np.ndarray, prior: np.ndarray | None, power: float) -> np.ndarray:
    """``probabilities`` divided by ``prior ** power`` per class, renormalized (power 0: as they are)."""
    if prior is None or power == 0:
        return probabilities
    adjusted = probabilities * prior ** -power
    return adjusted / adjusted.sum(axis=1, keepdims=True)


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

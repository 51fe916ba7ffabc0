"""Ways to weigh the ensemble's members, compared on the very probabilities one report's members produced.

    flock /tmp/shardvec-bench.lock .venv/bin/python bench/ensemble_rules.py wordnet-lexname brown-genre \
        fortune-category

Needs the fine-tune bench's cache (run ``bench/finetune_bench.py`` once): its
pretrained vectors and its classification sets. For each set it runs
``shardvec finetune`` exactly as the bench does (defaults, budgets 1/5/25/100 %,
3 draws) and, where the report builds its ensemble, takes the members'
probabilities (cross-fitted on the held-out units, then on test) and weighs
them by each rule:

* ``greedy``: the report's own rule (``finetune.ensemble_weights = "greedy"``);
* ``equal``: the plain mean of the vector settings (the baseline left out);
* ``bagged data``: greedy selection on 20 bootstrap resamples of the held-out
  units, weights averaged (bagging the selection, as Breiman bags a learner);
* ``bagged members``: greedy selection among a random half of the members,
  20 times, weights averaged (Caruana et al., ICML 2004, "bagged ensemble
  selection");
* ``best step``: the greedy additions run to the end (four per member) and
  the best ensemble of the path kept, ties to the earliest (Caruana et al.
  2004 return the best of the nested ensembles; the report's rule stops at
  the first addition that does not raise the score).

Each rule's mean is then divided by the class shares to the prior power the
report would choose with those weights (``finetune.ensemble_prior_powers``;
classify with a macro-F1 headline), and the ``greedy`` and ``best step``
rules run once more with that power *guarded*: a power above 0 only where
its per-entry held-out scores beat power 0's beyond noise (the paired test
of ``shardvec.finetune.recommend.beats``).

For each it prints test macro-F1 and accuracy (mean of the draws) and a
held-out score that test never sees: each held-out entry split into halves
(3 splits), each half scored with the weights (and power) the rule chose on
the other. Classification sets only (a held-out unit is one example).
Writes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import realtext  # noqa: E402
from shardvec.cli import main as shardvec_main  # noqa: E402
from shardvec.finetune import ensemble  # noqa: E402
from shardvec.finetune.classifier import decide  # noqa: E402
from shardvec.finetune.recommend import beats  # noqa: E402
from shardvec.finetune.task import Task  # noqa: E402

BAGS = 20
SPLITS = 3
Entries = list[tuple[np.ndarray, list[np.ndarray]]]  # per held-out entry: its units, each member's probabilities
Rule = Callable[[Task, Entries, list[bool], np.random.Generator], np.ndarray]


def greedy(task: Task, entries: Entries, leads: list[bool], rng: np.random.Generator) -> np.ndarray:
    return ensemble.greedy_weights([p for _, p in entries], ensemble._ranker(task, [u for u, _ in entries]), leads)


def equal(task: Task, entries: Entries, leads: list[bool], rng: np.random.Generator) -> np.ndarray:
    weights = np.array(leads, dtype=np.float64)
    return weights / weights.sum()


def bagged_data(task: Task, entries: Entries, leads: list[bool], rng: np.random.Generator) -> np.ndarray:
    total = np.zeros(len(leads))
    for _ in range(BAGS):
        picks = [rng.integers(0, len(units), len(units)) for units, _ in entries]
        total += greedy(task, [(units[i], [p[i] for p in probs]) for (units, probs), i in zip(entries, picks)],
                        leads, rng)
    return total / BAGS


def bagged_members(task: Task, entries: Entries, leads: list[bool], rng: np.random.Generator) -> np.ndarray:
    total = np.zeros(len(leads))
    for _ in range(BAGS):
        keep = rng.random(len(leads)) < 0.5
        while not (keep & np.array(leads)).any():
            keep = rng.random(len(leads)) < 0.5
        chosen = np.flatnonzero(keep)
        total[chosen] += greedy(task, [(units, [probs[m] for m in chosen]) for units, probs in entries],
                                [leads[m] for m in chosen], rng)
    return total / BAGS


def best_step(task: Task, entries: Entries, leads: list[bool], rng: np.random.Generator) -> np.ndarray:
    """The greedy path walked to its end, not stopped at the first addition that does not raise the score
    (which is why it cannot call ``ensemble.greedy_weights``), and its best step kept."""
    held = [p for _, p in entries]
    rank = ensemble._ranker(task, [u for u, _ in entries])
    counts, best, kept = np.zeros(len(leads)), None, None
    totals = [np.zeros(p[0].shape) for p in held]
    allowed = [m for m, lead in enumerate(leads) if lead]
    for step in range(4 * len(leads)):
        trials = {m: rank([(t + p[m]) / (step + 1) for t, p in zip(totals, held)]) for m in allowed}
        m = max(trials, key=lambda i: trials[i])
        counts[m] += 1
        allowed = list(range(len(leads)))
        for t, p in zip(totals, held):
            t += p[m]
        if best is None or ensemble._raises(trials[m], best):
            best, kept = trials[m], counts.copy()
    return kept / kept.sum()


RULES: dict[str, Rule] = {"greedy": greedy, "equal": equal, "bagged data": bagged_data,
                          "bagged members": bagged_members, "best step": best_step}
VARIANTS = [(name, rule, False) for name, rule in RULES.items()] + \
    [(f"{name} + guard", RULES[name], True) for name in ("greedy", "best step")]


def prior_power(self: ensemble.Ensemble, task: Task, entries: Entries, weights: np.ndarray,
                guard: bool) -> tuple[np.ndarray | None, float]:
    """The class shares and the power the report would choose with ``weights`` (``guard``: above 0 only
    beyond noise), or no prior where the report uses none."""
    if task.metric != "macro_f1" or task.multilabel:
        return None, 0.0
    prior = ensemble.class_shares(task)
    mixed = [(units, ensemble.mix(probs, weights)) for units, probs in entries]
    if not guard:
        rank = ensemble._ranker(task, [u for u, _ in mixed])
        return prior, max(self.prior_powers, key=lambda q: rank([ensemble.adjust(p, prior, q) for _, p in mixed]))
    per = {q: [ensemble._score(task, u, ensemble.adjust(p, prior, q)) for u, p in mixed] for q in self.prior_powers}
    passing = [q for q in self.prior_powers if q == 0 or beats(per[q], per[0])]
    return prior, max(passing, key=lambda q: (np.mean(per[q]), -q))


def held_out_score(self: ensemble.Ensemble, task: Task, entries: Entries, rule: Rule, guard: bool) -> float:
    """Mean over ``SPLITS`` random halvings of each entry: each half scored with the weights (and power) chosen
    on the other."""
    rng, scores = np.random.default_rng(1), []
    for split in range(SPLITS):
        halves = [np.random.default_rng([split, e]).permutation(len(units)) % 2 == 0
                  for e, (units, _) in enumerate(entries)]
        mixed = [np.zeros(probs[0].shape) for _, probs in entries]
        for side in (True, False):
            half = [(units[h == side], [p[h == side] for p in probs]) for (units, probs), h in zip(entries, halves)]
            weights = rule(task, half, self.leads, rng)
            prior, power = prior_power(self, task, half, weights, guard)
            for out, (_, probs), h in zip(mixed, entries, halves):
                out[h != side] = ensemble.adjust(ensemble.mix([p[h != side] for p in probs], weights), prior, power)
        scores.append(np.mean([ensemble._score(task, units, p) for (units, _), p in zip(entries, mixed)]))
    return float(np.mean(scores))


def compare_rules(self: ensemble.Ensemble, task: Task) -> None:
    """Print every rule's weights and scores at every budget of the report being built."""
    print(f"\n{task.name}: members {', '.join(self.members)}")
    print("| budget | rule | test macro-F1 | test accuracy | held-out (cross-fitted) | prior power | weights |")
    print("|---|---|---|---|---|---|---|")
    for budget, outs in self.outputs.items():
        entries = [(units, [o.held[e][1] for o in outs]) for e, (units, _) in enumerate(outs[0].held)]
        for name, rule, guard in VARIANTS:
            weights = rule(task, entries, self.leads, np.random.default_rng(0))
            prior, power = prior_power(self, task, entries, weights, guard)
            tests = [task.score(task.split.test, decide(ensemble.adjust(ensemble.mix([o.test[r] for o in outs],
                                                                                     weights), prior, power),
                                                        task.multilabel)) for r in range(len(outs[0].test))]
            shares = ", ".join(f"{m} {w:.2f}" for m, w in zip(self.members, weights) if w > 0.005)
            print(f"| {budget:g} | {name} | {np.mean([t['macro_f1'] for t in tests]):.4f} | "
                  f"{np.mean([t['accuracy'] for t in tests]):.4f} | "
                  f"{held_out_score(self, task, entries, rule, guard):.4f} | {power:g} | {shares} |", flush=True)


def main() -> None:
    cache = realtext.cache_dir()
    vectors = max((p for p in cache.glob("finetune-vectors-*") if (p / "_SUCCESS").exists()),
                  key=lambda p: p.stat().st_mtime)
    summary = ensemble.Ensemble.summary

    def summarize(self, task, train_units, halves_of):
        compare_rules(self, task)
        return summary(self, task, train_units, halves_of)

    ensemble.Ensemble.summary = summarize
    for name in sys.argv[1:]:
        files = {split: cache / "finetune-bench" / f"{name}_{split}.txt" for split in ("train", "dev", "test")}
        shardvec_main(["finetune", "--vectors", str(vectors), "--train", str(files["train"]), "--dev",
                       str(files["dev"]), "--test", str(files["test"]), "--mode", "classify", "--overwrite",
                       "--output", str(cache / "ensemble-rules" / name), "--set", "finetune.intrinsic_vocab=0",
                       "--set", "finetune.split_seed=0", "--set", "finetune.repeats=3",
                       "--set", "finetune.budgets=[0.01, 0.05, 0.25, 1.0]"])


if __name__ == "__main__":
    main()

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
  selection").

For each it prints test macro-F1 and accuracy (mean of the draws) and a
held-out score that test never sees: each held-out entry split into halves
(3 splits), each half scored with the weights the rule chose on the other.
Classification sets only (a held-out unit is one example). Writes nothing.
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


RULES: dict[str, Rule] = {"greedy": greedy, "equal": equal, "bagged data": bagged_data,
                          "bagged members": bagged_members}


def held_out_score(task: Task, entries: Entries, leads: list[bool], rule: Rule) -> float:
    """Mean over ``SPLITS`` random halvings of each entry: each half scored with the weights chosen on the other."""
    rng, scores = np.random.default_rng(1), []
    for split in range(SPLITS):
        halves = [np.random.default_rng([split, e]).permutation(len(units)) % 2 == 0
                  for e, (units, _) in enumerate(entries)]
        mixed = [np.zeros(probs[0].shape) for _, probs in entries]
        for side in (True, False):
            weights = rule(task, [(units[h == side], [p[h == side] for p in probs])
                                  for (units, probs), h in zip(entries, halves)], leads, rng)
            for out, (_, probs), h in zip(mixed, entries, halves):
                out[h != side] = ensemble.mix([p[h != side] for p in probs], weights)
        scores.append(np.mean([ensemble._score(task, units, p) for (units, _), p in zip(entries, mixed)]))
    return float(np.mean(scores))


def compare_rules(self: ensemble.Ensemble, task: Task) -> None:
    """Print every rule's weights and scores at every budget of the report being built."""
    print(f"\n{task.name}: members {', '.join(self.members)}")
    print("| budget | rule | test macro-F1 | test accuracy | held-out (cross-fitted) | weights |")
    print("|---|---|---|---|---|---|")
    for budget, outs in self.outputs.items():
        entries = [(units, [o.held[e][1] for o in outs]) for e, (units, _) in enumerate(outs[0].held)]
        for name, rule in RULES.items():
            weights = rule(task, entries, self.leads, np.random.default_rng(0))
            tests = [task.score(task.split.test, decide(ensemble.mix([o.test[r] for o in outs], weights),
                                                        task.multilabel)) for r in range(len(outs[0].test))]
            shares = ", ".join(f"{m} {w:.2f}" for m, w in zip(self.members, weights) if w > 0.005)
            print(f"| {budget:g} | {name} | {np.mean([t['macro_f1'] for t in tests]):.4f} | "
                  f"{np.mean([t['accuracy'] for t in tests]):.4f} | "
                  f"{held_out_score(task, entries, self.leads, rule):.4f} | {shares} |", flush=True)


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

"""The comparison: every vector setting x every label budget x repeats, on the same splits.

Subsets and seeds depend only on the split seed, the budget and the repeat,
never on the setting, so settings are compared on identical training data
and identical shuffles. Each run early-stops on dev and then scores the test
split once. The best setting is the one with the highest mean dev score at
the full budget (ties go to the lower dev loss); test scores play no part
in any choice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from shardvec.finetune.classifier import TrainOptions, fit
from shardvec.finetune.features import Encoder, WordTable
from shardvec.finetune.progress import log
from shardvec.finetune.splits import budget_subset, too_rare
from shardvec.finetune.task import Task
from shardvec.finetune.vectorsets import DESCRIPTIONS, VectorSet


@dataclass(frozen=True)
class CurveOptions:
    budgets: list[float]
    repeats: int
    seed: int
    train: TrainOptions
    buckets: int
    window: int


@dataclass(frozen=True)
class Trained:
    """The full-budget first-repeat run of a setting whose vectors were updated."""

    words: WordTable
    encoder: Encoder


def run_seed(seed: int, budget: float, repeat: int) -> int:
    return int(np.random.SeedSequence([seed, int(round(budget * 1_000_000)), repeat]).generate_state(1)[0])


def plan_budgets(task: Task, options: CurveOptions) -> tuple[dict[float, list[np.ndarray]], list[dict[str, Any]]]:
    """Training units of every (budget, repeat); budgets starving a class are skipped with the reason."""
    plan: dict[float, list[np.ndarray]] = {}
    skipped = []
    for budget in sorted(set(options.budgets) | {1.0}):
        subsets = [budget_subset(task.split.train, task.data.strata, budget, run_seed(options.seed, budget, r))
                   for r in range(options.repeats)]
        rare = sorted({c for s in subsets for c in too_rare(task.label_counts(s), task.labels)})
        if budget < 1.0 and rare:
            skipped.append({"budget": budget, "reason": f"{len(rare)} class(es) would have fewer than 2 training "
                                                        f"examples ({', '.join(rare[:5])})"})
            continue
        plan[budget] = subsets
    return plan, skipped


def _spread(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(a.mean()), 4), "std": round(float(a.std()), 4),
            "min": round(float(a.min()), 4), "max": round(float(a.max()), 4)}


def run_setting(task: Task, vectors: VectorSet, plan: dict[float, list[np.ndarray]],
                options: CurveOptions) -> tuple[dict[str, Any], Trained | None]:
    """All budgets and repeats of one setting."""
    words = WordTable(vectors.kv, task.data.tokens)
    prototype = task.encoder(words, vectors.update, options.buckets, options.window)
    dev, test = task.examples(task.split.dev), task.examples(task.split.test)

    def score_dev(predicted: np.ndarray) -> float:
        return task.score(task.split.dev, predicted)[task.metric]

    curve, trained, first_test = [], None, None
    for budget, subsets in plan.items():
        runs = []
        for repeat, units in enumerate(subsets):
            start = time.perf_counter()
            encoder = prototype.fresh()
            model = fit(encoder, task.targets, task.examples(units), dev, options.train, task.multilabel,
                        run_seed(options.seed, budget, repeat), score_dev)
            dev_score = model.dev_scores[model.best_epoch - 1]
            test_metrics = task.score(task.split.test, model.predict(encoder.forward(test)))
            runs.append({"repeat": repeat, "train_units": len(units), "dev_score": dev_score,
                         "test_score": test_metrics[task.metric], "best_epoch": model.best_epoch,
                         "epochs_run": model.epochs_run, "dev_losses": model.dev_losses,
                         "dev_scores": model.dev_scores,
                         "seconds": round(time.perf_counter() - start, 3),
                         "test": {k: test_metrics[k] for k in ("accuracy", "macro_f1", "micro_f1") if k in test_metrics}})
            if budget == 1.0 and repeat == 0:
                first_test = test_metrics
                trained = Trained(words, encoder) if vectors.update else None
        curve.append({"budget": budget, "train_units": len(subsets[0]),
                      "dev_score": _spread([r["dev_score"] for r in runs]),
                      "test_score": _spread([r["test_score"] for r in runs]), "runs": runs})
    full = curve[-1]
    summary = {
        "description": DESCRIPTIONS[vectors.name],
        "vocab_size": len(vectors.kv),
        "coverage": {name: words.coverage([task.data.tokens[u] for u in getattr(task.split, name)])
                     for name in ("train", "test")},
        "dev_score": full["dev_score"]["mean"],
        "dev_loss": round(float(np.mean([min(r["dev_losses"]) for r in full["runs"]])), 5),
        "test_score": full["test_score"],
        "test_means": {k: round(float(np.mean([r["test"][k] for r in full["runs"]])), 4)
                       for k in full["runs"][0]["test"]},
        "test_metrics": first_test,
        "curve": curve,
    }
    log(f"{task.kind}/{vectors.name}: test {task.metric} {summary['test_score']['mean']:.4f} "
        f"± {summary['test_score']['std']:.4f} (dev {summary['dev_score']:.4f})")
    return summary, trained


def compare(task: Task, sets: dict[str, VectorSet], options: CurveOptions) -> tuple[dict[str, Any], dict[str, Trained]]:
    """The task's section of the report, and the updated vectors of fine-tuned settings."""
    plan, skipped = plan_budgets(task, options)
    for entry in skipped:
        log(f"budget {entry['budget']:g} skipped: {entry['reason']}")
    results, trained = {}, {}
    for name, vectors in sets.items():
        results[name], done = run_setting(task, vectors, plan, options)
        if done is not None:
            trained[name] = done
    best = max(results, key=lambda n: (results[n]["dev_score"], -results[n]["dev_loss"]))
    section = {
        "metric": task.metric, "labels": task.labels, "multilabel": task.multilabel, "bio": task.bio,
        "budgets": list(plan), "skipped_budgets": skipped, "repeats": options.repeats,
        "class_weight": options.train.class_weight, "select_on": options.train.select_on,
        "best": {"setting": best, "chosen_on": f"mean dev {task.metric} at the full budget",
                 "dev_score": results[best]["dev_score"], "test_score": results[best]["test_score"]},
        "settings": results,
    }
    return section, trained

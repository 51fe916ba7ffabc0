"""The comparison: every vector setting x every label budget x repeats, on the same splits.

Subsets and seeds depend only on the split seed, the budget and the repeat,
never on the setting, so settings are compared on identical training data
and identical shuffles. Each run early-stops on dev. At every setting and
budget, each candidate of the training options (the learning rates of the
search) runs all repeats, and the one with the highest mean dev score is
kept (ties: lower dev loss); only its runs then score the test split, once
each. The best setting is the one with the highest mean dev score at the full
budget (ties go to the lower dev loss); test scores play no part in any
choice.

Why search per budget: the best step size depends on how many updates an
epoch makes. On Brown genres (adapted vectors, balanced weights) dev macro-F1
peaked at learning rate 0.5 with 1% of the labels (0.194 against 0.176 at
0.1) and at 0.1 with all of them (0.358 against 0.339 at 0.5), so any single
rate gives up one end of the learning curve.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from shardvec.finetune.classifier import LinearModel, TrainOptions, fit
from shardvec.finetune.features import Encoder, WordTable
from shardvec.finetune.progress import log
from shardvec.finetune.splits import budget_subset, short_classes
from shardvec.finetune.task import Task
from shardvec.finetune.vectorsets import DESCRIPTIONS, VectorSet


@dataclass(frozen=True)
class CurveOptions:
    budgets: list[float]
    repeats: int
    seed: int
    min_per_class: int  # the floor of every class in a budget's draw
    candidates: list[TrainOptions]  # tried at every setting and budget; the best on dev is kept
    buckets: int
    window: int


@dataclass(frozen=True)
class Trained:
    """The full-budget first-repeat run of a setting whose vectors were updated."""

    words: WordTable
    encoder: Encoder


@dataclass(frozen=True)
class Fitted:
    """One repeat's trained classifier, not yet scored on test."""

    units: np.ndarray
    model: LinearModel
    encoder: Encoder
    seconds: float


def run_seed(seed: int, budget: float, repeat: int) -> int:
    return int(np.random.SeedSequence([seed, int(round(budget * 1_000_000)), repeat]).generate_state(1)[0])


def plan_budgets(task: Task, options: CurveOptions) -> tuple[dict[float, list[np.ndarray]], list[dict[str, Any]],
                                                             list[dict[str, Any]]]:
    """Training units of every (budget, repeat), what each draw holds, and the budgets that cannot run.

    A budget below the full split is skipped only when some class has fewer
    than ``min_per_class`` examples in the whole training split: then no
    draw can give it its floor.
    """
    plan: dict[float, list[np.ndarray]] = {}
    draws, skipped = [], []
    short = short_classes(task.label_counts(task.split.train), options.min_per_class)
    for budget in sorted(set(options.budgets) | {1.0}):
        if budget < 1.0 and short:
            skipped.append({"budget": budget, "reason": f"{len(short)} class(es) have fewer than "
                                                        f"{options.min_per_class} examples in the whole training "
                                                        f"split: {', '.join(short[:10])}"})
            continue
        plan[budget] = [budget_subset(task.split.train, task.data.labels, task.kind == "classify", budget,
                                      options.min_per_class, run_seed(options.seed, budget, r))
                        for r in range(options.repeats)]
        counts = [task.label_counts(s) for s in plan[budget]]
        draws.append({"budget": budget, "units": [len(s) for s in plan[budget]],
                      "per_class": {label: [c.get(label, 0) for c in counts] for label in task.labels}})
    return plan, draws, skipped


def _spread(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(a.mean()), 4), "std": round(float(a.std()), 4),
            "min": round(float(a.min()), 4), "max": round(float(a.max()), 4)}


def _dev_summary(runs: list[Fitted]) -> tuple[float, float]:
    """Mean dev score at the kept epochs, and mean lowest dev loss: what candidates are ranked by."""
    return (float(np.mean([f.model.dev_scores[f.model.best_epoch - 1] for f in runs])),
            float(np.mean([min(f.model.dev_losses) for f in runs])))


def fit_repeats(task: Task, prototype: Encoder, subsets: list[np.ndarray], budget: float, seed: int,
                train: TrainOptions, dev: np.ndarray) -> list[Fitted]:
    """Every repeat of one budget with one candidate of the training options; dev only."""

    def score_dev(predicted: np.ndarray) -> float:
        return task.score(task.split.dev, predicted)[task.metric]

    runs = []
    for repeat, units in enumerate(subsets):
        start = time.perf_counter()
        encoder = prototype.fresh()
        model = fit(encoder, task.targets, task.examples(units), dev, train, task.multilabel,
                    run_seed(seed, budget, repeat), score_dev)
        runs.append(Fitted(units, model, encoder, round(time.perf_counter() - start, 3)))
    return runs


def search(task: Task, prototype: Encoder, subsets: list[np.ndarray], budget: float,
           options: CurveOptions) -> tuple[TrainOptions, list[Fitted], list[dict[str, Any]]]:
    """The candidate with the best mean dev score (ties: lower dev loss), its runs, and every candidate's record."""
    dev = task.examples(task.split.dev)
    best_key, best, tried = None, None, []
    for train in options.candidates:
        runs = fit_repeats(task, prototype, subsets, budget, options.seed, train, dev)
        dev_score, dev_loss = _dev_summary(runs)
        tried.append({"learning_rate": train.learning_rate, "dev_score": round(dev_score, 5),
                      "dev_loss": round(dev_loss, 5), "seconds": round(sum(f.seconds for f in runs), 3)})
        if best_key is None or (dev_score, -dev_loss) > best_key:
            best_key, best = (dev_score, -dev_loss), (train, runs)
    return best[0], best[1], tried


def run_setting(task: Task, vectors: VectorSet, plan: dict[float, list[np.ndarray]],
                options: CurveOptions) -> tuple[dict[str, Any], Trained | None]:
    """All budgets and repeats of one setting."""
    words = WordTable(vectors.kv, task.data.tokens)
    prototype = task.encoder(words, vectors.update, options.buckets, options.window)
    test = task.examples(task.split.test)
    curve, trained, first_test = [], None, None
    for budget, subsets in plan.items():
        chosen, fitted, tried = search(task, prototype, subsets, budget, options)
        runs = []
        for repeat, f in enumerate(fitted):
            test_metrics = task.score(task.split.test, f.model.predict(f.encoder.forward(test)))
            runs.append({"repeat": repeat, "train_units": len(f.units),
                         "dev_score": f.model.dev_scores[f.model.best_epoch - 1],
                         "test_score": test_metrics[task.metric], "best_epoch": f.model.best_epoch,
                         "epochs_run": f.model.epochs_run, "dev_losses": f.model.dev_losses,
                         "dev_scores": f.model.dev_scores, "seconds": f.seconds,
                         "test": {k: test_metrics[k] for k in ("accuracy", "macro_f1", "micro_f1") if k in test_metrics}})
            if budget == 1.0 and repeat == 0:
                first_test = test_metrics
                trained = Trained(words, f.encoder) if vectors.update else None
        curve.append({"budget": budget, "train_units": len(subsets[0]), "learning_rate": chosen.learning_rate,
                      "search": tried,
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
        "learning_rate": full["learning_rate"],
        "test_score": full["test_score"],
        "test_means": {k: round(float(np.mean([r["test"][k] for r in full["runs"]])), 4)
                       for k in full["runs"][0]["test"]},
        "test_metrics": first_test,
        "curve": curve,
    }
    rates = ", ".join(f"{c['learning_rate']:g}" for c in curve)
    log(f"{task.kind}/{vectors.name}: test {task.metric} {summary['test_score']['mean']:.4f} "
        f"± {summary['test_score']['std']:.4f} (dev {summary['dev_score']:.4f}; learning rate by budget {rates})")
    return summary, trained


def compare(task: Task, sets: dict[str, VectorSet], options: CurveOptions) -> tuple[dict[str, Any], dict[str, Trained]]:
    """The task's section of the report, and the updated vectors of fine-tuned settings."""
    plan, draws, skipped = plan_budgets(task, options)
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
        "min_per_class": options.min_per_class, "budget_draws": draws,
        "class_weight": options.candidates[0].class_weight, "select_on": options.candidates[0].select_on,
        "learning_rates": [c.learning_rate for c in options.candidates],
        "best": {"setting": best, "chosen_on": f"mean dev {task.metric} at the full budget",
                 "dev_score": results[best]["dev_score"], "test_score": results[best]["test_score"]},
        "settings": results,
    }
    return section, trained

"""Choosing by cross-validation on the budget's own examples, and saying when differences are noise."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from finetune_helpers import topic_docs, topic_sentences, train_word2vec
from shardvec.finetune.baseline import BaselineOptions
from shardvec.finetune.classifier import Architecture, TrainOptions
from shardvec.finetune.datasets import Dataset
from shardvec.finetune.experiment import (BaselineLearner, CurveOptions, VectorLearner, plan_budgets, run_curve,
                                          run_seed, search)
from shardvec.finetune.features import WordTable
from shardvec.finetune.report import verdict_lines
from shardvec.finetune.selection import Selection
from shardvec.finetune.splits import fold_units, split_indices
from shardvec.finetune.task import ModelOptions, Task, build_task
from shardvec.finetune.verdict import verdict

OPTIONS = TrainOptions(epochs=30, learning_rate=0.5, l2=1e-4, patience=3, batch_size=16, class_weight="none",
                       select_on="score")
MODEL = ModelOptions(weighting="mean", buckets=0, window=2, lexical=False, ngrams=2, hidden=0)


def test_auto_selection_rules():
    auto = Selection("auto", folds=5, dev_below=200, budget_upto=0.05)
    assert auto.method(dev_examples=20, budget=1.0) == "cv"  # small dev
    assert auto.method(dev_examples=1000, budget=0.05) == "cv"  # small budget
    assert auto.method(dev_examples=1000, budget=0.25) == "dev"
    assert Selection("dev", 5, 200, 0.05).method(20, 0.01) == "dev"
    assert Selection("cv", 5, 200, 0.05).method(5000, 1.0) == "cv"
    assert auto.describe("cv") == "5-fold cross-validation on the budget's training examples"


def test_folds_are_stratified_disjoint_and_even():
    labels = [("a",)] * 23 + [("b",)] * 2 + [("c",)] * 5
    units = np.arange(100, 130)  # unit numbers, not positions
    all_labels = [("x",)] * 100 + labels
    folds = fold_units(units, all_labels, True, 5, seed=0)
    assert len(folds) == 5 and sorted(np.concatenate(folds).tolist()) == units.tolist()
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    assert sum(any(all_labels[u] == ("b",) for u in f) for f in folds) == 2  # the two b's in two folds
    assert all(Counter(all_labels[u][0] for u in f)["c"] == 1 for f in folds)
    assert len(fold_units(units[:3], all_labels, True, 5, seed=0)) == 3  # never more folds than units


@pytest.fixture(scope="module")
def small_dev_task():
    """Separable topics with a dev split of 12 documents: auto selection cross-validates."""
    docs = topic_docs(40)
    data = Dataset("classify", [t.split() for _, t in docs], [(label,) for label, _ in docs], "mem", "fasttext")
    return build_task(data, split_indices(len(data), data.strata, 0.1, 0.25, seed=0))


def _options(selection: Selection, rates=(1e-6, 0.5)) -> CurveOptions:
    return CurveOptions([0.25, 1.0], repeats=2, seed=0, min_per_class=2, model=MODEL, selection=selection,
                        baseline=[BaselineOptions(c, "none") for c in (0.01, 10.0)],
                        candidates=[TrainOptions(**{**OPTIONS.__dict__, "learning_rate": lr}) for lr in rates])


def _spy_on_scored_units(monkeypatch, task) -> list[tuple[str, np.ndarray]]:
    """Record the units every ``Task.score`` call scores, named when they are a whole split."""
    calls = []
    original = Task.score

    def spy(self, units, predicted):
        name = next((n for n in ("train", "dev", "test") if units is getattr(task.split, n)), "fold")
        if name == "fold" and set(np.asarray(units).tolist()) <= set(task.split.dev.tolist()):
            name = "dev"  # a half of dev: the final fits' cross-fitted dev scores, recorded only
        calls.append((name, np.asarray(units)))
        return original(self, units, predicted)

    monkeypatch.setattr(Task, "score", spy)
    return calls


def test_cross_validation_chooses_on_the_budgets_own_examples(small_dev_task, monkeypatch):
    task = small_dev_task
    options = _options(Selection("auto", folds=3, dev_below=200, budget_upto=0.05))
    kv = train_word2vec(topic_sentences(800), vector_size=16).wv
    learner = VectorLearner(task, task.encoder(WordTable(kv, task.data.tokens), False, MODEL, None),
                            Architecture(0, None), options.candidates)
    plan, *_ = plan_budgets(task, options)
    calls = _spy_on_scored_units(monkeypatch, task)
    choice = search(task, learner, plan[1.0], 1.0, options)
    assert choice.method == "cv"
    folds = [units for name, units in calls if name == "fold"]
    assert {name for name, _ in calls} == {"fold", "dev"}
    assert len(folds) >= 2 * 3 * 2  # every fold of every repeat of both candidates, once per epoch at least
    budget_units = set(np.concatenate(plan[1.0]).tolist())
    assert all(set(units.tolist()) <= budget_units for units in folds)  # never dev or test
    assert [t["learning_rate"] for t in choice.tried] == [1e-6, 0.5] and "cv_score" in choice.tried[0]
    assert choice.candidate.learning_rate == 0.5 and not choice.candidate.stop_on_dev
    for fitted in choice.fitted:  # final fits run the chosen number of epochs and keep the last
        model = fitted.model
        assert model.best_epoch == model.epochs_run == choice.candidate.epochs
    assert np.mean(choice.scores) == pytest.approx(choice.tried[1]["cv_score"], abs=1e-5)
    assert len(choice.scores) == sum(len(fold_units(units, task.data.labels, task.stratified, 3,
                                                     run_seed(options.seed, 1.0, r))) for r, units in
                                     enumerate(plan[1.0]))  # one score per fold of every repeat


def test_the_baseline_runs_the_same_draws_and_records_how_it_chose(small_dev_task):
    task = small_dev_task
    options = _options(Selection("auto", folds=3, dev_below=10, budget_upto=0.3))
    plan, *_ = plan_budgets(task, options)
    summary, _, _, _ = run_curve(task, BaselineLearner(task, task.lexical(MODEL), options.baseline), plan, options)
    assert [c["selection"] for c in summary["curve"]] == ["cv", "dev"]  # 25% <= 0.3; dev of 12 >= 10
    assert [c["train_units"] for c in summary["curve"]] == [len(plan[0.25][0]), len(task.split.train)]
    assert all(c["choice"] in ("C 0.01", "C 10") for c in summary["curve"])
    assert summary["C"] == 10.0 and summary["test_score"]["mean"] > 0.9  # C 0.01 barely learns
    assert "dev_score" in summary["curve"][1]["search"][0] and "cv_score" in summary["curve"][0]["search"][0]


def _point(mean: float, std: float, repeats: int = 3, selection_score: float = 0.5) -> dict:
    return {"test_score": {"mean": mean, "std": std}, "runs": [{}] * repeats, "selection_score": selection_score}


def _section(points: dict[str, tuple[float, float, float]]) -> dict:
    """A report section with one budget; each setting's (test mean, std, selection score)."""
    settings = {n: {"curve": [_point(m, s, selection_score=sel)]} for n, (m, s, sel) in points.items()
                if n != "tfidf+lr"}
    baselines = {n: {"curve": [_point(m, s, selection_score=sel)]} for n, (m, s, sel) in points.items()
                 if n == "tfidf+lr"}
    best = max(settings, key=lambda n: settings[n]["curve"][0]["selection_score"])
    return {"metric": "macro_f1", "budgets": [1.0], "settings": settings, "baselines": baselines,
            "best": {"setting": best, "chosen_on": "mean dev macro_f1 at the full budget"}}


def test_small_differences_on_a_small_test_split_are_called_noise():
    section = _section({"random": (0.62, 0.02, 0.6), "pretrained": (0.66, 0.02, 0.7), "tfidf+lr": (0.60, 0.0, 0.5)})
    found = verdict(section, n_test=40)
    transfer = found["transfer"][0]
    assert (transfer["pretrained"], transfer["without"]) == ("pretrained", "random")  # chosen by selection score
    assert transfer["difference"] == pytest.approx(0.04) and transfer["verdict"] == "within noise"
    assert transfer["noise"] == pytest.approx(2 * np.hypot(np.sqrt(0.02 ** 2 / 3 + 0.66 * 0.34 / 40),
                                                          np.sqrt(0.02 ** 2 / 3 + 0.62 * 0.38 / 40)), abs=1e-4)
    assert found["within_noise_of_best"] == ["random", "tfidf+lr"]
    section["verdict"] = found
    lines = verdict_lines(section)
    assert "within noise" in lines[0] and "cannot tell them apart" in lines[-1]


def test_clear_differences_on_a_large_test_split_are_called():
    section = _section({"random": (0.50, 0.01, 0.5), "pretrained": (0.70, 0.01, 0.7), "tfidf+lr": (0.60, 0.0, 0.6)})
    found = verdict(section, n_test=5000)
    assert found["transfer"][0]["without"] == "tfidf+lr" and found["transfer"][0]["verdict"] == "pretraining helps"
    assert found["within_noise_of_best"] == []
    section["verdict"] = found
    assert verdict_lines(section)[-1].startswith("recommended: pretrained, ahead of every other setting")
    worse = _section({"random": (0.70, 0.01, 0.7), "pretrained": (0.50, 0.01, 0.6)})
    assert verdict(worse, n_test=5000)["transfer"][0]["verdict"] == "pretraining hurts"


def test_a_single_unit_budget_chooses_on_dev():
    sentences = [["the", "cat", "runs"], ["a", "dog", "sleeps"]] * 5
    tags = {"the": "DET", "a": "DET", "cat": "NOUN", "dog": "NOUN", "runs": "VERB", "sleeps": "VERB"}
    data = Dataset("tag", sentences, [tuple(tags[w] for w in s) for s in sentences], "mem", "conll")
    task = build_task(data, split_indices(len(data), None, 0.2, 0.2, seed=0))
    options = CurveOptions([0.01], repeats=1, seed=0, min_per_class=1, model=MODEL, baseline=[],
                           selection=Selection("cv", folds=3, dev_below=200, budget_upto=0.05),
                           candidates=[OPTIONS])
    plan, *_ = plan_budgets(task, options)
    assert [len(s) for s in plan[0.01]] == [1]  # one sentence holds every tag once
    kv = train_word2vec(sentences, vector_size=8).wv
    learner = VectorLearner(task, task.encoder(WordTable(kv, data.tokens), False, MODEL, None),
                            Architecture(0, None), options.candidates)
    assert search(task, learner, plan[0.01], 0.01, options).method == "dev"

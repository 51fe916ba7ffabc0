"""The ensemble setting: the mean of its members' probabilities, scored and chosen like a trained setting."""

from __future__ import annotations

import numpy as np
import pytest

from finetune_helpers import topic_docs, topic_sentences, train_word2vec
from shardvec.finetune.baseline import BaselineOptions
from shardvec.finetune.classifier import TrainOptions
from shardvec.finetune.datasets import Dataset
from shardvec.finetune.ensemble import Ensemble, Outputs
from shardvec.finetune.experiment import CurveOptions, compare
from shardvec.finetune.selection import Selection
from shardvec.finetune.splits import split_indices
from shardvec.finetune.task import ModelOptions, build_task
from shardvec.finetune.vectorsets import VectorSet

MODEL = ModelOptions(weighting="mean", buckets=0, window=2, lexical=True, ngrams=1, hidden=0)
OPTIONS = TrainOptions(epochs=20, learning_rate=0.5, l2=1e-4, patience=3, batch_size=16, class_weight="none",
                       select_on="score", lexical_l2=1e-5)


def topic_task(n_per_class: int, dev: float):
    docs = topic_docs(n_per_class)
    data = Dataset("classify", [t.split() for _, t in docs], [(label,) for label, _ in docs], "mem", "fasttext")
    return build_task(data, split_indices(len(data), data.strata, dev, 0.25, seed=0))


def half_right(task, units: np.ndarray, first_half: bool) -> np.ndarray:
    """Probabilities sure of the true class on one half of the examples and leaning, less surely, to a wrong
    one on the other half."""
    targets = task.targets[task.examples(units)].astype(np.float64)
    wrong = np.roll(targets, 1, axis=1)
    sure = 0.9 * targets + 0.1 * wrong
    unsure = 0.4 * targets + 0.6 * wrong
    half = np.arange(len(targets)) < len(targets) // 2
    pick = half if first_half else ~half
    return np.where(pick[:, None], sure, unsure)


def test_the_mean_is_right_where_each_member_is_half_wrong() -> None:
    task = topic_task(30, dev=0.2)
    ensemble = Ensemble()
    for name, first_half in (("a", True), ("b", False)):
        dev, test = (half_right(task, getattr(task.split, s), first_half) for s in ("dev", "test"))
        ensemble.add(name, {1.0: Outputs("dev", [(task.split.dev, dev)], [dev], [test], [2.0])})
        assert task.score(task.split.test, test > 0.5)["accuracy"] <= 0.55  # each member alone: about half
    ensemble.add("not a member", {})
    entry = ensemble.summary(task, {1.0: [len(task.split.train)]})
    assert entry["members"] == ["a", "b"] and entry["choice"] == "mean of 2"
    assert entry["selection_score"] == entry["dev_score"] == entry["test_score"]["mean"] == 1.0
    assert entry["test_metrics"]["accuracy"] == 1.0 and entry["curve"][0]["runs"][0]["seconds"] == 4.0
    assert entry["dev_loss"] == pytest.approx(-np.log(0.65), abs=1e-5)  # the mean gives the true class 0.65


def test_members_must_hold_out_the_same_examples() -> None:
    task = topic_task(30, dev=0.2)
    dev = half_right(task, task.split.dev, True)
    ensemble = Ensemble()
    ensemble.add("a", {1.0: Outputs("dev", [(task.split.dev, dev)], [dev], [dev], [1.0])})
    with pytest.raises(ValueError, match="b held out other examples than a"):
        ensemble.add("b", {1.0: Outputs("dev", [(task.split.dev[::-1], dev)], [dev], [dev], [1.0])})


def test_compare_cross_validates_the_ensemble_on_its_members_folds(monkeypatch) -> None:
    task = topic_task(40, dev=0.1)  # a dev split of 12 documents: every budget cross-validates
    kv = train_word2vec(topic_sentences(800), vector_size=16).wv
    added: dict[str, dict[float, Outputs]] = {}
    original = Ensemble.add

    def spy(self, name, outputs):
        added[name] = outputs
        original(self, name, outputs)

    monkeypatch.setattr(Ensemble, "add", spy)
    options = CurveOptions([0.25, 1.0], repeats=2, seed=0, min_per_class=2, model=MODEL,
                           selection=Selection("auto", folds=3, dev_below=200, budget_upto=0.05),
                           baseline=[BaselineOptions(1.0, "none")], candidates=[OPTIONS],
                           ensemble=["pretrained", "tfidf+lr"])
    section, _ = compare(task, {"random": VectorSet("random", kv, False), "pretrained": VectorSet("pretrained", kv, False)},
                         options)
    entry = section["settings"]["ensemble"]
    assert entry["members"] == ["pretrained", "tfidf+lr"] and not added["random"]
    for point in entry["curve"]:
        members = [added[m][point["budget"]] for m in entry["members"]]
        assert point["selection"] == "cv" and all(m.method == "cv" for m in members)
        assert len(members[0].held) == 2 * 3  # every fold of every repeat
        scores = [task.score(units, (pa + pb).argmax(axis=1)[:, None] == np.arange(pa.shape[1]))[task.metric]
                  for (units, pa), (_, pb) in zip(members[0].held, members[1].held)]
        assert point["selection_score"] == round(float(np.mean(scores)), 5)
    chosen = max(section["settings"], key=lambda n: section["settings"][n]["selection_score"])
    assert section["best"]["selection_score"] == section["settings"][chosen]["selection_score"]

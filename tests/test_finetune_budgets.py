"""Splits and label budgets: stratified, with a floor per class, skipped only when the floor is impossible."""

from __future__ import annotations

from collections import Counter

import numpy as np

from shardvec.finetune.datasets import Dataset
from shardvec.finetune.experiment import CurveOptions, plan_budgets
from shardvec.finetune.splits import budget_subset, short_classes, split_indices
from shardvec.finetune.task import build_task


def _draw(strata: list[str], fraction: float, floor: int, seed: int = 0) -> Counter:
    units = budget_subset(np.arange(len(strata)), [(s,) for s in strata], True, fraction, floor, seed)
    assert len(set(units.tolist())) == len(units)
    return Counter(strata[i] for i in units)


def test_stratified_split_keeps_shares():
    strata = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    split = split_indices(100, strata, 0.1, 0.2, seed=3)
    assert split.sizes() == {"train": 70, "dev": 10, "test": 20}
    assert set(np.concatenate([split.train, split.dev, split.test]).tolist()) == set(range(100))
    assert Counter(strata[i] for i in split.test) == {"a": 10, "b": 6, "c": 4}
    assert np.array_equal(split.test, split_indices(100, strata, 0.1, 0.2, seed=3).test)
    assert not np.array_equal(split.test, split_indices(100, strata, 0.1, 0.2, seed=4).test)


def test_tiny_classes_keep_a_training_example():
    split = split_indices(3, ["a", "b", "b"], 0.3, 0.4, seed=0)
    assert {0} <= set(split.train.tolist())
    assert len(split.train) >= 2


def test_budget_takes_each_class_share_with_a_floor():
    strata = ["big"] * 1000 + ["mid"] * 40 + ["rare"] * 3
    assert _draw(strata, 0.01, floor=2) == {"big": 10, "mid": 2, "rare": 2}  # shares: 10, 0.4, 0.03
    assert _draw(strata, 0.01, floor=1) == {"big": 10, "mid": 1, "rare": 1}
    assert _draw(strata, 0.25, floor=2) == {"big": 250, "mid": 10, "rare": 2}  # rare: round(0.75) = 1 -> 2
    assert _draw(strata, 0.01, floor=5) == {"big": 10, "mid": 5, "rare": 3}  # never more than the class has
    assert _draw(strata, 1.0, floor=2) == Counter(strata)
    a = budget_subset(np.arange(len(strata)), [(s,) for s in strata], True, 0.05, 2, seed=0)
    b = budget_subset(np.arange(len(strata)), [(s,) for s in strata], True, 0.05, 2, seed=1)
    assert np.array_equal(a, budget_subset(np.arange(len(strata)), [(s,) for s in strata], True, 0.05, 2, seed=0))
    assert not np.array_equal(a, b)


def test_budget_indexes_into_the_training_split():
    strata = ["a"] * 60 + ["b"] * 6
    train = np.arange(0, 132, 2)  # the units of some split, not 0..n-1
    labels = [("x",)] * 200
    for i, s in zip(train, strata):
        labels[i] = (s,)
    units = budget_subset(train, labels, True, 0.1, 2, seed=0)
    assert set(units.tolist()) <= set(train.tolist())
    assert Counter(labels[i][0] for i in units) == {"a": 6, "b": 2}


def test_second_labels_and_tags_are_topped_up_to_the_floor():
    # Multi-label: "x" is never a first label, so only the top-up can give it its floor.
    labels = [("a",)] * 300 + [("a", "x")] * 4 + [("b",)] * 100
    units = budget_subset(np.arange(len(labels)), labels, True, 0.01, 2, seed=0)
    counts = Counter(label for i in units for label in labels[i])
    assert counts["x"] == 2 and counts["b"] >= 2
    # Tagging: sentences are drawn plainly, then sentences holding a rare tag are added.
    sentences = [("N", "V", "N")] * 400 + [("N", "INTJ")] * 3
    units = budget_subset(np.arange(len(sentences)), sentences, False, 0.01, 2, seed=0)
    tags = Counter(t for i in units for t in sentences[i])
    assert tags["INTJ"] == 2 and len(units) in (4 + 2, 4 + 1)  # round(4.03) plain draws, plus top-up


def _task(counts: dict[str, int]):
    labels = [(label,) for label, n in counts.items() for _ in range(n)]
    data = Dataset("classify", [[label[0], "w"] for label in labels], labels, "mem", "fasttext")
    return build_task(data, split_indices(len(data), data.strata, 0.2, 0.2, seed=0))


def _options(floor: int) -> CurveOptions:
    return CurveOptions([0.01, 0.05, 1.0], repeats=3, seed=0, min_per_class=floor, candidates=[], model=None,
                        selection=None, baseline=[])


def test_plan_reports_every_draw_and_never_skips_a_possible_budget():
    task = _task({"big": 500, "mid": 50, "small": 10})
    plan, draws, skipped = plan_budgets(task, _options(2))
    assert skipped == [] and list(plan) == [0.01, 0.05, 1.0]
    train = task.label_counts(task.split.train)
    assert train == {"big": 300, "mid": 30, "small": 6}
    first = draws[0]
    assert first["budget"] == 0.01 and first["units"] == [3 + 2 + 2] * 3
    assert first["per_class"] == {"big": [3, 3, 3], "mid": [2, 2, 2], "small": [2, 2, 2]}
    assert draws[1]["per_class"]["big"] == [15] * 3 and draws[1]["per_class"]["small"] == [2] * 3
    assert draws[-1]["units"] == [len(task.split.train)] * 3
    for draw, subsets in zip(draws, plan.values()):
        assert draw["units"] == [len(s) for s in subsets]


def test_budget_skipped_only_when_train_holds_fewer_than_the_floor():
    task = _task({"big": 500, "single": 3})  # train keeps 1 of the 3 "single" examples (20% dev, 20% test)
    assert task.label_counts(task.split.train)["single"] == 1
    assert short_classes(task.label_counts(task.split.train), 2) == ["single"]
    plan, draws, skipped = plan_budgets(task, _options(2))
    assert list(plan) == [1.0] and [d["budget"] for d in draws] == [1.0]
    assert [s["budget"] for s in skipped] == [0.01, 0.05]
    assert "fewer than 2 examples in the whole training split: single" in skipped[0]["reason"]
    plan, _, skipped = plan_budgets(task, _options(1))
    assert skipped == [] and list(plan) == [0.01, 0.05, 1.0]

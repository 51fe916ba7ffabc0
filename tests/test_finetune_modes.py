"""The fine-tune mode registry, and what a task defined outside it gets from the Task base."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from shardvec.errors import ConfigError, InputError
from shardvec.finetune.datasets import _READERS, FORMATS, Dataset
from shardvec.finetune.modes import MODES, TASKS, find_mode, task_reading
from shardvec.finetune.modes.adapt import AdaptMode
from shardvec.finetune.modes.classify import ClassifyTask
from shardvec.finetune.modes.tag import TagTask
from shardvec.finetune.splits import Split
from shardvec.finetune.task import Task, build_task


def test_a_registered_mode_is_found_by_its_name():
    assert find_mode("classify") is ClassifyTask and find_mode("tag") is TagTask and find_mode("adapt") is AdaptMode
    assert all(find_mode(name).name == name for name in MODES)
    assert list(TASKS) == ["classify", "tag"]  # the supervised ones; adapt only adapts
    assert AdaptMode.adapts and not ClassifyTask.adapts and not TagTask.adapts


def test_an_unknown_mode_is_a_config_error_naming_the_known_ones():
    with pytest.raises(ConfigError, match=r"^unknown finetune mode 'dance'; known modes: classify, adapt, tag$"):
        find_mode("dance")


def test_every_format_has_a_reader_and_exactly_one_task():
    assert set(FORMATS) - {"auto"} == set(_READERS)
    for fmt in _READERS:
        assert [task for task in TASKS.values() if fmt in task.formats] == [task_reading(fmt)]


class EndsTask(Task):
    """A made-up task: a unit's examples are its first and last word, each with its own label."""

    name = "ends"
    needs = "phrases with two labels"
    formats = ()
    units = "phrases"
    examples_name = "ends"
    stratified = False
    baseline = "none"
    baseline_description = "no baseline"

    @classmethod
    def example_labels(cls, unit_labels: tuple[str, ...]) -> list[tuple[str, ...]]:
        return [(label,) for label in unit_labels]

    @property
    def metric(self) -> str:
        return "accuracy"

    def encoder(self, words, update, model, weights):
        raise AssertionError("not trained here")

    def lexical(self, model):
        raise AssertionError("not trained here")

    def model_parts(self, model) -> dict[str, Any]:
        return {}


def test_a_new_task_gets_its_label_matrix_checks_and_scores_from_the_base(monkeypatch):
    monkeypatch.setitem(TASKS, EndsTask.name, EndsTask)
    data = Dataset("ends", [["x", "y"]] * 12, [("a", "b"), ("b", "b"), ("a", "a"), ("b", "a")] * 3, "mem", "none")
    assert data.strata is None and not data.multilabel
    split = Split(np.arange(8), np.arange(8, 10), np.arange(10, 12))

    task = build_task(data, split)
    assert isinstance(task, EndsTask) and task.labels == ["a", "b"] and not task.bio
    assert task.offsets.tolist() == list(range(0, 25, 2))
    assert task.targets[:4].tolist() == [[1, 0], [0, 1], [0, 1], [0, 1]]
    assert task.examples(np.array([1, 3])).tolist() == [2, 3, 6, 7]
    assert task.label_counts(split.test) == {"a": 3, "b": 1}
    right = task.targets[task.examples(split.test)]
    assert task.score(split.test, right)[task.metric] == 1.0
    assert task.score(split.test, right[:, ::-1])[task.metric] == 0.0

    with pytest.raises(InputError, match="finetune.mode tag needs a CoNLL token file; mem was read as none"):
        TagTask.build(data, split)
    one_class = Dataset("ends", [["x", "y"]] * 12, [("a", "a")] * 12, "mem", "none")
    with pytest.raises(InputError, match="single class"):
        build_task(one_class, split)

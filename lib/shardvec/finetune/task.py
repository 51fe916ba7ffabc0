"""The contract of a fine-tune mode, and the supervised task that the experiment loop runs.

Every value of ``finetune.mode`` is a :class:`FinetuneMode` subclass listed in
:mod:`shardvec.finetune.modes`. A supervised mode is a :class:`Task`: splits
and budgets are drawn over *units* (documents, or sentences) while the
classifier trains on *examples* (a document, or one token of a sentence). The
base class holds that mapping, the label matrix, the checks and the scoring;
a subclass says only what differs (which files it reads, how a unit's labels
become examples, the encoder, the lexical features, the headline metric), so
the experiment loop never asks which task it runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import numpy as np
import scipy.sparse as sp

from shardvec.errors import InputError
from shardvec.finetune.features import Encoder, TermWeights, WordTable
from shardvec.finetune.metrics import class_metrics
from shardvec.finetune.splits import Split

if TYPE_CHECKING:  # datasets.py reads the registry, which imports this module
    from shardvec.finetune.datasets import Dataset


class FinetuneMode(ABC):
    """One value of ``finetune.mode``, registered by ``name`` in :mod:`shardvec.finetune.modes`."""

    name: ClassVar[str]
    # The run adapts the pretrained model to the target texts, writes the result as adapted_vectors.bin and
    # builds its primary setting on it.
    adapts: ClassVar[bool] = False


@dataclass(frozen=True)
class ModelOptions:
    """The parts of the fine-tune model (``[finetune]`` keys of the same names)."""

    weighting: str  # classify: how word vectors are averaged (finetune.weighting)
    buckets: int  # classify: hashed bigram rows averaged with the word vectors
    window: int  # tag: words on each side
    lexical: bool  # the sparse lexical part beside the dense one
    ngrams: int  # classify: longest word n-gram of the lexical part
    hidden: int  # ReLU units on the dense part; 0: none
    baseline_ngrams: int = 1  # classify: longest word n-gram of the classical baseline's features


@dataclass(frozen=True)
class Task(FinetuneMode):
    """A supervised mode on one dataset and split: the class attributes and abstract methods are what a
    task says; the rest is shared."""

    # The data it takes, for the error when given other data ("labelled documents").
    needs: ClassVar[str]
    # The finetune.format values whose files hold its data; a Dataset read from one has this task's kind.
    formats: ClassVar[tuple[str, ...]]
    # What the report calls a unit (documents, sentences) and an example (examples, tokens).
    units: ClassVar[str]
    examples_name: ClassVar[str]
    # Splits, budgets and folds keep each class's share, a unit's class being its first label.
    stratified: ClassVar[bool]
    # The classical baseline on the lexical features: its name in the report and its description.
    baseline: ClassVar[str]
    baseline_description: ClassVar[str]

    data: Dataset
    split: Split  # over units
    labels: list[str]
    targets: np.ndarray  # examples x labels, 0/1
    offsets: np.ndarray  # unit u owns examples offsets[u]:offsets[u+1]
    bio: bool

    @classmethod
    @abstractmethod
    def example_labels(cls, unit_labels: tuple[str, ...]) -> list[tuple[str, ...]]:
        """The labels of each example of a unit, given the unit's labels as its reader gave them."""

    @classmethod
    def strata(cls, unit_labels: Sequence[tuple[str, ...]]) -> list[str] | None:
        """The class of every unit that splits keep in proportion, or None to draw units plainly."""
        return [ls[0] for ls in unit_labels] if cls.stratified else None

    @classmethod
    def is_multilabel(cls, unit_labels: Sequence[tuple[str, ...]]) -> bool:
        """Whether an example may carry several labels (one sigmoid per label instead of a softmax)."""
        return False

    @classmethod
    def is_bio(cls, labels: set[str]) -> bool:
        """Whether the labels are BIO tags, scored on the entities they mark."""
        return False

    @classmethod
    def build(cls, data: Dataset, split: Split) -> Task:
        """Check that ``data`` is this task's and its labels are learnable; build the label matrix."""
        if data.kind != cls.name:
            raise InputError(f"finetune.mode {cls.name} needs {cls.needs}; {data.source} was read as {data.format}")
        for name in ("train", "dev", "test"):
            if len(getattr(split, name)) == 0:
                raise InputError(f"the {name} split of {data.source} is empty; give more data or a larger fraction")
        seen = {name: {l for u in getattr(split, name) for l in data.labels[u]} for name in ("train", "dev", "test")}
        labels = sorted(seen["train"])
        if len(labels) < 2:
            raise InputError(f"the training data has a single class ({', '.join(labels)}); nothing to learn")
        for name in ("dev", "test"):
            unknown = sorted(seen[name] - seen["train"])
            if unknown:
                raise InputError(f"labels in {name} but not in train: {', '.join(unknown[:10])}")
        column = {label: k for k, label in enumerate(labels)}
        per_unit = [cls.example_labels(unit_labels) for unit_labels in data.labels]
        offsets = np.concatenate([[0], np.cumsum([len(examples) for examples in per_unit])]).astype(np.int64)
        targets = np.zeros((offsets[-1], len(labels)))
        for u, examples in enumerate(per_unit):
            for j, example in enumerate(examples):
                for label in example:
                    targets[offsets[u] + j, column[label]] = 1.0
        return cls(data, split, labels, targets, offsets, cls.is_bio(set(labels)))

    @property
    def multilabel(self) -> bool:
        return self.data.multilabel

    @property
    @abstractmethod
    def metric(self) -> str:
        """The key of the headline score in :meth:`score`'s result."""

    def examples(self, units: np.ndarray) -> np.ndarray:
        return np.concatenate([np.arange(self.offsets[u], self.offsets[u + 1]) for u in units]
                              + [np.zeros(0, dtype=np.int64)])

    def label_counts(self, units: np.ndarray) -> Counter:
        return Counter(label for u in units for label in self.data.labels[u])

    @abstractmethod
    def encoder(self, words: WordTable, update: bool, model: ModelOptions, weights: TermWeights | None) -> Encoder:
        """The dense part's input: every example's features from the word vectors."""

    def term_weights(self, model: ModelOptions) -> TermWeights | None:
        """How words weigh in an average over a unit's words, from the training texts; None: no average."""
        return None

    @abstractmethod
    def lexical(self, model: ModelOptions) -> sp.csr_matrix:
        """The sparse lexical features of every example; vocabulary (and IDF) from the training split."""

    def baseline_features(self, model: ModelOptions, lexical: sp.csr_matrix | None) -> sp.csr_matrix:
        """What the classical baseline reads: the lexical part's features (``lexical``, or built when the model
        has no lexical part), unless the task gives the baseline its own."""
        return lexical if lexical is not None else self.lexical(model)

    def bigram_lexical(self, model: ModelOptions) -> sp.csr_matrix | None:
        """The lexical features of the settings' runs with word bigrams (``finetune.bigram_settings``); None
        where the task has none to add."""
        return None

    @abstractmethod
    def model_parts(self, model: ModelOptions) -> dict[str, Any]:
        """The options of ``model`` that this task uses, as the report names them."""

    def describe_model(self, model: ModelOptions, lexical: sp.csr_matrix | None) -> dict[str, Any]:
        """What the report says about the model."""
        parts: dict[str, Any] = {"hidden": model.hidden, "lexical": model.lexical, **self.model_parts(model)}
        if lexical is not None:
            parts["lexical_features"] = lexical.shape[1]
        return parts

    def score(self, units: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
        """Metrics of ``predicted`` (indicator rows for ``self.examples(units)``)."""
        metrics = class_metrics(self.targets[self.examples(units)], predicted, self.labels)
        return self.task_metrics(units, predicted, metrics)

    def task_metrics(self, units: np.ndarray, predicted: np.ndarray, metrics: dict[str, Any]) -> dict[str, Any]:
        """The task's metrics, given the per-example class ``metrics``: those, unless the task scores otherwise."""
        return metrics


def build_task(data: Dataset, split: Split) -> Task:
    """The task that ``data`` was read for, checked and with its label matrix."""
    return data.task.build(data, split)

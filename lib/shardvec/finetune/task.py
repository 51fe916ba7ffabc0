"""A supervised task seen the same way whether it classifies documents or tags tokens.

Splits and budgets are drawn over *units* (documents, or sentences); the
classifier trains on *examples* (a document, or one token of a sentence).
:class:`Task` holds that mapping, the label matrix, and how a unit set is
scored, so the experiment loop never asks which kind of task it runs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

import scipy.sparse as sp

from shardvec.errors import InputError
from shardvec.finetune.datasets import Dataset
from shardvec.finetune.features import BagEncoder, Encoder, TermWeights, WordTable
from shardvec.finetune.lexical import lexical_matrix, ngram_terms, token_terms
from shardvec.finetune.metrics import class_metrics, entity_metrics, is_bio
from shardvec.finetune.splits import Split
from shardvec.finetune.tagger import WindowEncoder


@dataclass(frozen=True)
class ModelOptions:
    """The parts of the fine-tune model (``[finetune]`` keys of the same names)."""

    weighting: str  # classify: how word vectors are averaged (finetune.weighting)
    buckets: int  # classify: hashed bigram rows averaged with the word vectors
    window: int  # tag: words on each side
    lexical: bool  # the sparse lexical part beside the dense one
    ngrams: int  # classify: longest word n-gram of the lexical part
    hidden: int  # ReLU units on the dense part; 0: none

    def describe(self, kind: str, lexical: sp.csr_matrix | None) -> dict[str, Any]:
        """What the report says about the model (only the parts that apply to ``kind``)."""
        parts: dict[str, Any] = {"hidden": self.hidden, "lexical": self.lexical}
        if kind == "classify":
            parts.update(weighting=self.weighting, bigram_buckets=self.buckets, lexical_ngrams=self.ngrams)
        else:
            parts.update(window=self.window)
        if lexical is not None:
            parts["lexical_features"] = lexical.shape[1]
        return parts


@dataclass(frozen=True)
class Task:
    data: Dataset
    split: Split  # over units
    labels: list[str]
    targets: np.ndarray  # examples x labels, 0/1
    offsets: np.ndarray  # unit u owns examples offsets[u]:offsets[u+1]
    bio: bool

    @property
    def kind(self) -> str:
        return self.data.kind

    @property
    def multilabel(self) -> bool:
        return self.data.multilabel

    @property
    def metric(self) -> str:
        """The headline score: macro-F1 for classes, CoNLL entity F1 for BIO, else token accuracy."""
        if self.kind == "classify":
            return "macro_f1"
        return "micro_f1" if self.bio else "accuracy"

    def examples(self, units: np.ndarray) -> np.ndarray:
        if self.kind == "classify":
            return units
        return np.concatenate([np.arange(self.offsets[u], self.offsets[u + 1]) for u in units]
                              + [np.zeros(0, dtype=np.int64)])

    def label_counts(self, units: np.ndarray) -> Counter:
        return Counter(label for u in units for label in self.data.labels[u])

    def encoder(self, words: WordTable, update: bool, model: ModelOptions, weights: TermWeights | None) -> Encoder:
        if self.kind == "classify":
            return BagEncoder(words, self.data.tokens, update, model.buckets, weights)
        return WindowEncoder(words, self.data.tokens, model.window, update, self.data.raw)

    def term_weights(self, model: ModelOptions) -> TermWeights | None:
        """Document mode's averaging weights, from the training split's texts (no labels)."""
        if self.kind != "classify":
            return None
        return TermWeights([self.data.tokens[u] for u in self.split.train], model.weighting, model.buckets > 0)

    def lexical(self, model: ModelOptions) -> sp.csr_matrix:
        """The sparse lexical features of every example; vocabulary and IDF from the training split."""
        if self.kind == "classify":
            terms = [ngram_terms(doc, model.ngrams) for doc in self.data.tokens]
            return lexical_matrix(terms, self.split.train, tfidf=True)
        raw = self.data.raw or self.data.tokens
        terms = [t for words, written in zip(self.data.tokens, raw) for t in token_terms(words, written, model.window)]
        return lexical_matrix(terms, self.examples(self.split.train), tfidf=False)

    def score(self, units: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
        """Metrics of ``predicted`` (indicator rows for ``self.examples(units)``).

        BIO tagging is scored on entities, plus token accuracy and the token confusion matrix.
        """
        truth = self.targets[self.examples(units)]
        metrics = class_metrics(truth, predicted, self.labels)
        if not self.bio:
            return metrics
        tags = [self.labels[k] for k in predicted.argmax(axis=1)]
        pred_seqs, start = [], 0
        for u in units:
            n = len(self.data.tokens[u])
            pred_seqs.append(tags[start:start + n])
            start += n
        return {**entity_metrics([list(self.data.labels[u]) for u in units], pred_seqs),
                "accuracy": metrics["accuracy"], "confusion": metrics.get("confusion")}


def build_task(data: Dataset, split: Split) -> Task:
    """Check the labels are learnable and build the label matrix."""
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
    sizes = [len(data.labels[u]) if data.kind == "tag" else 1 for u in range(len(data))]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    targets = np.zeros((offsets[-1], len(labels)))
    for u, unit_labels in enumerate(data.labels):
        for j, label in enumerate(unit_labels):
            targets[offsets[u] + (j if data.kind == "tag" else 0), column[label]] = 1.0
    bio = data.kind == "tag" and is_bio(set(labels))
    return Task(data, split, labels, targets, offsets, bio)

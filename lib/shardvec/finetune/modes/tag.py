"""Mode ``tag``: sentences of tagged tokens (CoNLL), one example per token.

A token's features are the vectors of a window of words around it beside
word, shape and affix features of that window. A sentence has no single
class, so splits, budgets and folds draw sentences plainly. BIO tags are
scored on the entities they mark (CoNLL entity micro-F1, plus token
accuracy); other tags on token accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from shardvec.finetune.features import Encoder, TermWeights, WordTable
from shardvec.finetune.lexical import lexical_matrix, token_terms
from shardvec.finetune.metrics import entity_metrics, is_bio
from shardvec.finetune.tagger import WindowEncoder
from shardvec.finetune.task import ModelOptions, Task


class TagTask(Task):
    name = "tag"
    needs = "a CoNLL token file"
    formats = ("conll",)
    units = "sentences"
    examples_name = "tokens"
    stratified = False
    baseline = "lexical+lr"
    baseline_description = "word, shape and affix features + logistic regression (scikit-learn), no vectors"

    @classmethod
    def example_labels(cls, unit_labels: tuple[str, ...]) -> list[tuple[str, ...]]:
        return [(tag,) for tag in unit_labels]

    @classmethod
    def is_bio(cls, labels: set[str]) -> bool:
        return is_bio(labels)

    @property
    def metric(self) -> str:
        """Entity micro-F1 for BIO tags, else token accuracy: both count examples, as taggers are compared."""
        return "micro_f1" if self.bio else "accuracy"

    def encoder(self, words: WordTable, update: bool, model: ModelOptions, weights: TermWeights | None) -> Encoder:
        return WindowEncoder(words, self.data.tokens, model.window, update, self.data.raw)

    def lexical(self, model: ModelOptions) -> sp.csr_matrix:
        raw = self.data.raw or self.data.tokens
        terms = [t for words, written in zip(self.data.tokens, raw) for t in token_terms(words, written, model.window)]
        return lexical_matrix(terms, self.examples(self.split.train), tfidf=False)

    def model_parts(self, model: ModelOptions) -> dict[str, Any]:
        return {"window": model.window}

    def task_metrics(self, units: np.ndarray, predicted: np.ndarray, metrics: dict[str, Any]) -> dict[str, Any]:
        """BIO tagging is scored on entities, plus token accuracy and the token confusion matrix."""
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

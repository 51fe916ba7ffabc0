"""Mode ``classify``: labelled documents, one example each, scored on macro-F1.

A document's features are the weighted average of its word vectors (plus
hashed bigram rows) beside its TF-IDF word n-grams. A document may carry
several labels (multi-label data: one sigmoid per label); its first label is
the class that splits, budgets and folds keep in proportion.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from shardvec.finetune.features import BagEncoder, Encoder, TermWeights, WordTable
from shardvec.finetune.lexical import lexical_matrix, ngram_terms
from shardvec.finetune.task import ModelOptions, Task


class ClassifyTask(Task):
    name = "classify"
    needs = "labelled documents"
    formats = ("fasttext", "csv", "tsv", "jsonl", "parquet")
    units = "documents"
    examples_name = "examples"
    stratified = True
    baseline = "tfidf+lr"
    baseline_description = "TF-IDF word n-grams + logistic regression (scikit-learn), no vectors"

    @classmethod
    def example_labels(cls, unit_labels: tuple[str, ...]) -> list[tuple[str, ...]]:
        return [unit_labels]

    @classmethod
    def is_multilabel(cls, unit_labels: Sequence[tuple[str, ...]]) -> bool:
        return any(len(ls) > 1 for ls in unit_labels)

    @property
    def metric(self) -> str:
        """Macro-F1: every class counts the same, however rare."""
        return "macro_f1"

    def examples(self, units: np.ndarray) -> np.ndarray:
        return units

    def encoder(self, words: WordTable, update: bool, model: ModelOptions, weights: TermWeights | None) -> Encoder:
        return BagEncoder(words, self.data.tokens, update, model.buckets, weights)

    def term_weights(self, model: ModelOptions) -> TermWeights:
        """The averaging weights, from the training split's texts (no labels)."""
        return TermWeights([self.data.tokens[u] for u in self.split.train], model.weighting, model.buckets > 0)

    def lexical(self, model: ModelOptions) -> sp.csr_matrix:
        terms = [ngram_terms(doc, model.ngrams) for doc in self.data.tokens]
        return lexical_matrix(terms, self.split.train, tfidf=True)

    def baseline_features(self, model: ModelOptions, lexical: sp.csr_matrix | None) -> sp.csr_matrix:
        """TF-IDF n-grams up to ``baseline_ngrams``: the model's matrix when the orders agree, else its own."""
        if lexical is not None and model.ngrams == model.baseline_ngrams:
            return lexical
        return self.lexical(replace(model, ngrams=model.baseline_ngrams))

    def bigram_lexical(self, model: ModelOptions) -> sp.csr_matrix | None:
        """TF-IDF words and bigrams, where the lexical part is on words alone (else it has them already)."""
        return self.lexical(replace(model, ngrams=2)) if model.lexical and model.ngrams == 1 else None

    def model_parts(self, model: ModelOptions) -> dict[str, Any]:
        return {"weighting": model.weighting, "bigram_buckets": model.buckets, "lexical_ngrams": model.ngrams,
                "baseline_ngrams": model.baseline_ngrams}

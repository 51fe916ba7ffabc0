"""The classical anchor: logistic regression on the lexical features, by scikit-learn.

For documents that is TF-IDF word n-grams (``finetune.baseline_ngrams``; words
alone by default) into a regularised logistic regression, what a practitioner
tries first and often the number to beat; for tokens, the same model on a
window of word and shape features. It trains on the very subsets, and is
chosen by the very selection (dev, or cross-validation on the budget's own
examples), that the vector settings get, so every report says whether
pretraining beat the classical answer.

Its one knob is the inverse regularisation strength ``C`` (searched like the
learning rate of the vector settings). Single-label data is a multinomial
model whose examples carry the same class weights as the SGD model's;
multi-label data is one binary model per label, unweighted. A class absent
from a training fold gets probability zero.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from shardvec.finetune.classifier import ClassWeights, cross_entropy, decide

_MAX_ITER = 100  # scikit-learn's default


@dataclass(frozen=True)
class BaselineOptions:
    c: float  # inverse L2 strength
    class_weight: str

    @property
    def label(self) -> str:
        return f"C {self.c:g}"

    def describe(self) -> dict[str, Any]:
        return {"C": self.c}

    def fixed(self, epochs: int) -> "BaselineOptions":
        """No epochs to fix: a logistic regression is solved to convergence."""
        return self


class LogisticFit:
    """A fitted baseline, shaped like a trained network: predictions and a one-epoch history."""

    def __init__(self, model: Any, lexical: sp.csr_matrix, columns: np.ndarray, n_classes: int, multilabel: bool):
        self.model = model
        self.lexical = lexical
        self.columns = columns  # the classes the model saw, as columns of the target matrix
        self.n_classes = n_classes
        self.multilabel = multilabel
        self.best_epoch = self.epochs_run = 1
        self.dev_losses: list[float] = []
        self.dev_scores: list[float] = []
        self.held_probabilities: np.ndarray | None = None  # one fit: nothing chosen on them to cross-fit
        self.selection_score = 0.0

    def predict_proba(self, items: np.ndarray) -> np.ndarray:
        p = np.zeros((len(items), self.n_classes))
        p[:, self.columns] = self.model.predict_proba(self.lexical[items])
        return p

    def predict(self, items: np.ndarray) -> np.ndarray:
        return decide(self.predict_proba(items), self.multilabel)


def fit_baseline(lexical: sp.csr_matrix, targets: np.ndarray, train: np.ndarray, dev: np.ndarray,
                 options: BaselineOptions, multilabel: bool, score: Callable[[np.ndarray], float]) -> LogisticFit:
    """Logistic regression on rows ``train`` of ``lexical``, scored once on ``dev``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from shardvec.finetune.classifier import blas_threads

    y = targets[train]
    with warnings.catch_warnings(), blas_threads(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # one-vs-rest on a label that a fold lacks
        if multilabel:
            model = OneVsRestClassifier(LogisticRegression(C=options.c, max_iter=_MAX_ITER))
            model.fit(lexical[train], y)
            columns = np.arange(y.shape[1])
        else:
            classes = y.argmax(axis=1)
            weights = ClassWeights.of(options.class_weight, y, multilabel)(y).ravel()
            model = LogisticRegression(C=options.c, max_iter=_MAX_ITER)
            model.fit(lexical[train], classes, sample_weight=weights)
            columns = model.classes_
    fitted = LogisticFit(model, lexical, columns, targets.shape[1], multilabel)
    p = fitted.predict_proba(dev)
    weigh = ClassWeights.of(options.class_weight if not multilabel else "none", y, multilabel)
    fitted.dev_losses.append(round(cross_entropy(p, targets[dev], weigh, multilabel), 5))
    fitted.selection_score = round(score(decide(p, multilabel)), 5)
    fitted.dev_scores.append(fitted.selection_score)
    fitted.held_probabilities = p
    return fitted

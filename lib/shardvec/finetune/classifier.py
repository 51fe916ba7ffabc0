"""A linear softmax classifier over encoder features, trained by minibatch SGD.

Cross-entropy with a softmax for single-label tasks and with independent
sigmoids for multi-label ones (fastText's one-vs-all loss): both give the
logit gradient ``p - y``, so one training loop serves both. L2 applies to the
classifier weights.

Two choices shape what the fit optimises for and when it stops:

* Class weights. An example of class c weighs ``n_c ** -power`` (scaled so
  that weights average 1 over the training examples): ``none`` (power 0),
  ``sqrt`` (1/2) or ``balanced`` (1). With ``balanced`` every class carries
  the same total weight (``n / (k * n_c)`` each), so a small class is not
  traded away for a large one, which a macro-F1 headline asks for; but it
  also makes every rare-class example count several times over, and the model
  then over-predicts the rare classes. ``sqrt`` stops halfway: in 5-fold
  cross-validation by source file on Brown genres (``bench/finetune_cv.py``;
  adapted vectors, full budget, learning rate 0.2) it gave macro-F1 0.316
  against 0.313 for balanced and 0.300 for none, and accuracy 0.377 against
  0.353 and 0.383.
* The epoch kept is the best one on dev by ``select_on``: the task's headline
  score (ties: lower dev loss), or the dev loss alone. Training stops after
  ``patience`` epochs without improvement. The number of epochs is thus chosen
  on dev and never on test. The dev loss is a smooth proxy, but it can rise
  while the score still improves (confident mistakes cost more loss than new
  right answers gain), so by default the score itself decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from shardvec.finetune.features import Encoder

_EPS = 1e-12
CLASS_WEIGHTS = {"none": 0.0, "sqrt": 0.5, "balanced": 1.0}  # name -> power of 1 / class count
SELECT_ON = ("score", "loss")


@dataclass(frozen=True)
class TrainOptions:
    epochs: int
    learning_rate: float
    l2: float
    patience: int
    batch_size: int
    class_weight: str  # one of CLASS_WEIGHTS
    select_on: str  # one of SELECT_ON


@dataclass(frozen=True)
class ClassWeights:
    """Loss weight of each (example, class) term, from the training labels.

    Single-label: an example weighs its class's ``present`` weight in every
    logit. Multi-label: each sigmoid is its own binary problem, so an
    example weighs ``present[c]`` in class c's term when it has c and
    ``absent[c]`` when it does not.
    """

    present: np.ndarray
    absent: np.ndarray | None

    @classmethod
    def of(cls, kind: str, targets: np.ndarray, multilabel: bool) -> "ClassWeights":
        """Weights for training examples ``targets``, averaging 1 over them as ``none`` does.

        A group of ``m`` examples weighs ``n * m ** -power / sum(m_g ** (1 - power))`` each, the sum
        running over the groups that share the loss: the classes, or for one multi-label sigmoid the
        examples with and without its label.
        """
        k = targets.shape[1]
        if kind == "none":
            return cls(np.ones(k), np.ones(k) if multilabel else None)
        power = CLASS_WEIGHTS[kind]
        n = len(targets)
        present = np.maximum(targets.sum(axis=0), 1)
        if not multilabel:
            return cls(n * present ** -power / (present ** (1 - power)).sum(), None)
        absent = np.maximum(n - targets.sum(axis=0), 1)
        total = present ** (1 - power) + absent ** (1 - power)
        return cls(n * present ** -power / total, n * absent ** -power / total)

    def __call__(self, targets: np.ndarray) -> np.ndarray:
        """Weights broadcastable against a ``targets``-shaped gradient."""
        if self.absent is None:
            return (targets @ self.present)[:, None]
        return targets * self.present + (1 - targets) * self.absent


@dataclass
class LinearModel:
    weights: np.ndarray  # features x classes
    bias: np.ndarray
    multilabel: bool
    best_epoch: int = 0
    epochs_run: int = 0
    dev_losses: list[float] = field(default_factory=list)
    dev_scores: list[float] = field(default_factory=list)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = features @ self.weights + self.bias
        if self.multilabel:
            return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def loss(self, p: np.ndarray, targets: np.ndarray, weights: ClassWeights) -> float:
        """Mean cross-entropy of probabilities ``p``, weighted as in training (the objective less L2)."""
        p = np.clip(p, _EPS, 1 - _EPS)
        terms = targets * np.log(p)
        if self.multilabel:
            terms = terms + (1 - targets) * np.log(1 - p)
        return float(-(weights(targets) * terms).sum(axis=1).mean())

    def decide(self, p: np.ndarray) -> np.ndarray:
        """An indicator matrix: the argmax, plus every class above 0.5 when multi-label."""
        out = np.zeros_like(p, dtype=bool)
        out[np.arange(len(p)), p.argmax(axis=1)] = True
        if self.multilabel:
            out |= p > 0.5
        return out

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.decide(self.probabilities(features))


def fit(encoder: Encoder, targets: np.ndarray, train: np.ndarray, dev: np.ndarray, options: TrainOptions,
        multilabel: bool, seed: int, score: Callable[[np.ndarray], float]) -> LinearModel:
    """Train on examples ``train`` of ``encoder``; early-stop on ``dev``.

    ``targets`` is the indicator matrix of every example; ``score`` turns
    predictions for the ``dev`` examples into the headline score (higher is
    better). The encoder is standardised on ``train`` first and left holding
    the best epoch's vectors.
    """
    rng = np.random.default_rng(seed)
    encoder.standardise(train)
    weigh = ClassWeights.of(options.class_weight, targets[train], multilabel)
    model = LinearModel(np.zeros((encoder.out_dim, targets.shape[1])), np.zeros(targets.shape[1]), multilabel)
    dev_targets = targets[dev]
    frozen_dev = None if encoder.trainable else encoder.forward(dev)  # features that cannot change
    best_key, best_state, waited = None, None, 0
    for epoch in range(1, options.epochs + 1):
        order = rng.permutation(train)
        for start in range(0, len(order), options.batch_size):
            batch = order[start:start + options.batch_size]
            features = encoder.forward(batch)
            y = targets[batch]
            grad_logits = weigh(y) * (model.probabilities(features) - y) / len(batch)
            grad_features = grad_logits @ model.weights.T
            model.weights -= options.learning_rate * (features.T @ grad_logits + options.l2 * model.weights)
            model.bias -= options.learning_rate * grad_logits.sum(axis=0)
            encoder.backward(batch, grad_features, options.learning_rate)
        p = model.probabilities(encoder.forward(dev) if frozen_dev is None else frozen_dev)
        dev_loss = model.loss(p, dev_targets, weigh)
        dev_score = score(model.decide(p))
        model.dev_losses.append(round(dev_loss, 5))
        model.dev_scores.append(round(dev_score, 5))
        model.epochs_run = epoch
        key = (dev_score, -dev_loss) if options.select_on == "score" else (-dev_loss,)
        if best_key is None or key > best_key:
            best_key, waited, model.best_epoch = key, 0, epoch
            best_state = (model.weights.copy(), model.bias.copy(), encoder.snapshot())
        else:
            waited += 1
            if waited >= options.patience:
                break
    model.weights, model.bias, state = best_state
    encoder.restore(state)
    return model

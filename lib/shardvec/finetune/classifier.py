"""A linear softmax classifier over encoder features, trained by minibatch SGD.

Cross-entropy with a softmax for single-label tasks and with independent
sigmoids for multi-label ones (fastText's one-vs-all loss): both give the
logit gradient ``p - y``, so one training loop serves both. L2 applies to the
classifier weights. Training stops when the dev loss has not improved for
``patience`` epochs and keeps the weights (and trainable vectors) of the best
epoch, so the number of epochs is chosen on dev and never on test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shardvec.finetune.features import Encoder

_EPS = 1e-12


@dataclass(frozen=True)
class TrainOptions:
    epochs: int
    learning_rate: float
    l2: float
    patience: int
    batch_size: int


@dataclass
class LinearModel:
    weights: np.ndarray  # features x classes
    bias: np.ndarray
    multilabel: bool
    best_epoch: int = 0
    epochs_run: int = 0
    dev_losses: list[float] = field(default_factory=list)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = features @ self.weights + self.bias
        if self.multilabel:
            return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def loss(self, features: np.ndarray, targets: np.ndarray) -> float:
        p = np.clip(self.probabilities(features), _EPS, 1 - _EPS)
        if self.multilabel:
            return float(-(targets * np.log(p) + (1 - targets) * np.log(1 - p)).sum(axis=1).mean())
        return float(-(targets * np.log(p)).sum(axis=1).mean())

    def predict(self, features: np.ndarray) -> np.ndarray:
        """An indicator matrix: the argmax, plus every class above 0.5 when multi-label."""
        p = self.probabilities(features)
        out = np.zeros_like(p, dtype=bool)
        out[np.arange(len(p)), p.argmax(axis=1)] = True
        if self.multilabel:
            out |= p > 0.5
        return out


def fit(encoder: Encoder, targets: np.ndarray, train: np.ndarray, dev: np.ndarray, options: TrainOptions,
        multilabel: bool, seed: int) -> LinearModel:
    """Train on examples ``train`` of ``encoder``; early-stop on ``dev``.

    ``targets`` is the indicator matrix of every example. The encoder is
    standardised on ``train`` first and left holding the best epoch's vectors.
    """
    rng = np.random.default_rng(seed)
    encoder.standardise(train)
    model = LinearModel(np.zeros((encoder.out_dim, targets.shape[1])), np.zeros(targets.shape[1]), multilabel)
    best = (np.inf, model.weights.copy(), model.bias.copy(), encoder.snapshot())
    waited = 0
    for epoch in range(1, options.epochs + 1):
        order = rng.permutation(train)
        for start in range(0, len(order), options.batch_size):
            batch = order[start:start + options.batch_size]
            features = encoder.forward(batch)
            grad_logits = (model.probabilities(features) - targets[batch]) / len(batch)
            grad_features = grad_logits @ model.weights.T
            model.weights -= options.learning_rate * (features.T @ grad_logits + options.l2 * model.weights)
            model.bias -= options.learning_rate * grad_logits.sum(axis=0)
            encoder.backward(batch, grad_features, options.learning_rate)
        dev_loss = model.loss(encoder.forward(dev), targets[dev])
        model.dev_losses.append(round(dev_loss, 5))
        model.epochs_run = epoch
        if dev_loss < best[0]:
            best = (dev_loss, model.weights.copy(), model.bias.copy(), encoder.snapshot())
            model.best_epoch = epoch
            waited = 0
        else:
            waited += 1
            if waited >= options.patience:
                break
    _, model.weights, model.bias, state = best
    encoder.restore(state)
    return model

"""The fine-tune model: a softmax over a dense part and a lexical part, trained jointly by minibatch SGD.

``logits = dense + lexical + bias``:

* the dense part reads the encoder's features (a weighted mean of a
  document's word vectors, or the vectors of a window of words around a
  token), standardised, either straight into the logits or through one ReLU
  layer of ``hidden`` units; when the setting trains its vectors, the
  gradient flows through it into them;
* the lexical part is a linear map of the sparse lexical features
  (:mod:`shardvec.finetune.lexical`: TF-IDF word n-grams, or a tagger's word
  and shape features), whose weights are the model's own.

The parts learn together: where labels are few, the pretrained dense part
carries what the lexical part cannot yet know (synonyms of the training
words); where they are plenty, the lexical part keeps which exact words and
word pairs matter, which an average of vectors blurs.

Cross-entropy with a softmax for single-label tasks and with independent
sigmoids for multi-label ones (fastText's one-vs-all loss): both give the
logit gradient ``p - y``, so one training loop serves both. L2 applies to the
model's weights, ``l2`` to the dense part and ``lexical_l2`` to the lexical
one: the penalty that suits the lexical part changes with the budget (on
Brown genres a strong one at 5% of the labels, a weak one at all of them),
so it is searched with the learning rate.

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

import functools
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from shardvec.finetune.features import Encoder, RowBatch, SparseRows, top_variance
from shardvec.finetune.heldout import CrossFit, Halves

_EPS = 1e-12
CLASS_WEIGHTS = {"none": 0.0, "sqrt": 0.5, "balanced": 1.0}  # name -> power of 1 / class count


@dataclass(frozen=True)
class TrainOptions:
    epochs: int
    learning_rate: float
    l2: float
    patience: int
    batch_size: int
    class_weight: str  # one of CLASS_WEIGHTS
    select_on: str  # score or loss (finetune.select_on)
    lexical_l2: float | None = None  # L2 on the lexical part's weights (of its unit-length rows); None: no such part
    stop_on_dev: bool = True  # False: train all ``epochs`` and keep the last (epochs chosen by cross-validation)

    @property
    def label(self) -> str:
        return f"lr {self.learning_rate:g}" + ("" if self.lexical_l2 is None else f", lexical L2 {self.lexical_l2:g}")

    def describe(self) -> dict[str, Any]:
        lexical = {} if self.lexical_l2 is None else {"lexical_l2": self.lexical_l2}
        return {"learning_rate": self.learning_rate, **lexical}

    def fixed(self, epochs: int) -> "TrainOptions":
        """These options for a final fit that runs ``epochs`` epochs (chosen by cross-validation) and keeps the last."""
        return replace(self, epochs=epochs, stop_on_dev=False)


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




def cross_entropy(p: np.ndarray, targets: np.ndarray, weights: ClassWeights, multilabel: bool) -> float:
    """Mean cross-entropy of probabilities ``p``, weighted as in training (the objective less L2)."""
    p = np.clip(p, _EPS, 1 - _EPS)
    terms = targets * np.log(p)
    if multilabel:
        terms = terms + (1 - targets) * np.log(1 - p)
    return float(-(weights(targets) * terms).sum(axis=1).mean())


def decide(p: np.ndarray, multilabel: bool) -> np.ndarray:
    """An indicator matrix: the argmax, plus every class above 0.5 when multi-label."""
    out = np.zeros_like(p, dtype=bool)
    out[np.arange(len(p)), p.argmax(axis=1)] = True
    if multilabel:
        out |= p > 0.5
    return out


@dataclass(frozen=True)
class Architecture:
    """What the model is made of beyond the encoder."""

    hidden: int  # ReLU units between the dense features and the logits; 0: the features feed the logits
    lexical: SparseRows | None  # sparse lexical features of every example; None: no lexical part


@dataclass
class Inputs:
    """Examples and their dense features (computed once where they cannot change)."""

    items: np.ndarray
    features: np.ndarray


class Network:
    """The dense and lexical parts and their training history."""

    def __init__(self, encoder: Encoder, architecture: Architecture, n_classes: int, multilabel: bool,
                 rng: np.random.Generator):
        self.encoder = encoder
        self.lexical = architecture.lexical
        self.multilabel = multilabel
        width = encoder.out_dim
        self.hidden_weights: np.ndarray | None = None
        self.hidden_bias: np.ndarray | None = None
        if architecture.hidden:
            # He initialisation: features have unit variance per dimension at most, so ReLU inputs start O(1).
            self.hidden_weights = (rng.standard_normal((width, architecture.hidden)) *
                                   np.sqrt(2.0 / max(width, 1))).astype(np.float32)
            self.hidden_bias = np.zeros(architecture.hidden, dtype=np.float32)
            width = architecture.hidden
        self.weights = np.zeros((width, n_classes), dtype=np.float32)
        self.lexical_weights = (np.zeros((self.lexical.shape[1], n_classes), dtype=np.float32)
                                if self.lexical is not None else None)
        self.bias = np.zeros(n_classes, dtype=np.float32)
        self.lexical_scale = np.float32(1.0)
        self.lexical_variance = 1.0
        # The lexical weights are lexical_weights * _multiplier: L2 shrinks every weight at every step, and
        # shrinking the one multiplier instead costs a step O(1), not O(lexical features x classes).
        self._multiplier = 1.0
        self.best_epoch = 0
        self.epochs_run = 0
        self.dev_losses: list[float] = []
        self.dev_scores: list[float] = []
        # The held-out probabilities that selection scores (cross-fitted, see heldout.py) and their score.
        self.held_probabilities: np.ndarray | None = None
        self.selection_score = 0.0

    def inputs(self, items: np.ndarray) -> Inputs:
        return Inputs(items, self.encoder.forward(items))

    def standardise(self, items: np.ndarray) -> None:
        """Scale both parts on the training examples so that one learning rate suits them both.

        The encoder standardises its features (see :class:`Encoder`); the
        lexical rows, sparse and of unit length, are scaled so that their
        largest principal (uncentred) variance is one as well. TF-IDF rows are
        nearly orthogonal, so that variance is small and the scale large: the
        rare words that carry a class then learn as fast as the dense part.
        ``lexical_l2`` stays a penalty on the weights of the unscaled rows.
        """
        self.encoder.standardise(items)
        if self.lexical is not None:
            self.lexical_variance = top_variance(self.lexical.matrix[items])
            self.lexical_scale = np.float32(1.0 / np.sqrt(self.lexical_variance))

    def _hidden(self, features: np.ndarray) -> np.ndarray:
        if self.hidden_weights is None:
            return features
        return np.maximum(features @ self.hidden_weights + self.hidden_bias, 0.0)

    def _logits(self, x: Inputs, hidden: np.ndarray, batch: RowBatch | None = None) -> np.ndarray:
        logits = hidden @ self.weights + self.bias
        if self.lexical is not None:
            lexical = batch.dot(self.lexical_weights) if batch else self.lexical.dot(x.items, self.lexical_weights)
            logits += np.float32(self.lexical_scale * self._multiplier) * lexical
        return logits

    def probabilities(self, x: Inputs) -> np.ndarray:
        return self._probabilities(self._logits(x, self._hidden(x.features)))

    def _probabilities(self, logits: np.ndarray) -> np.ndarray:
        if self.multilabel:
            return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def predict_proba(self, items: np.ndarray) -> np.ndarray:
        return self.probabilities(self.inputs(items))

    def predict(self, items: np.ndarray) -> np.ndarray:
        return self.decide(self.predict_proba(items))

    def decide(self, p: np.ndarray) -> np.ndarray:
        return decide(p, self.multilabel)

    def step(self, items: np.ndarray, targets: np.ndarray, weigh: ClassWeights, options: TrainOptions) -> None:
        """One SGD step on a minibatch: every part, and the encoder's trainable rows."""
        learning_rate, l2 = options.learning_rate, options.l2
        x = self.inputs(items)
        batch = None
        if self.lexical is not None:
            batch = self.lexical.batch(items)
        hidden = self._hidden(x.features)
        grad_logits = (weigh(targets) * (self._probabilities(self._logits(x, hidden, batch)) - targets) /
                       len(items)).astype(np.float32)
        grad_hidden = grad_logits @ self.weights.T
        self.weights -= learning_rate * (hidden.T @ grad_logits + l2 * self.weights)
        self.bias -= learning_rate * grad_logits.sum(axis=0)
        if batch is not None:
            # Weights of rows scaled by s are the unscaled ones times s: the penalty on the unscaled weights
            # is a penalty divided by s squared (the variance) here. The shrinkage is the implicit (proximal)
            # step, w / (1 + lr * l2): the same as w * (1 - lr * l2) for small penalties, and still a
            # shrinkage, never a sign flip, for large ones.
            self._multiplier /= 1.0 + learning_rate * (options.lexical_l2 or 0.0) / self.lexical_variance
            if self._multiplier < 1e-6:  # fold it in before float32 runs out of range
                self.lexical_weights *= np.float32(self._multiplier)
                self._multiplier = 1.0
            cols, grads = batch.transpose_dot(grad_logits)
            self.lexical_weights[cols] -= np.float32(learning_rate * self.lexical_scale / self._multiplier) * grads
        if self.hidden_weights is None:
            grad_features = grad_hidden
        else:
            grad_pre = grad_hidden * (hidden > 0)
            grad_features = grad_pre @ self.hidden_weights.T
            self.hidden_weights -= learning_rate * (x.features.T @ grad_pre + l2 * self.hidden_weights)
            self.hidden_bias -= learning_rate * grad_pre.sum(axis=0)
        self.encoder.backward(items, grad_features, learning_rate)

    def snapshot(self) -> tuple:
        copies = tuple(None if a is None else a.copy() for a in
                       (self.weights, self.bias, self.hidden_weights, self.hidden_bias, self.lexical_weights))
        return copies + (self._multiplier, self.encoder.snapshot())

    def restore(self, state: tuple) -> None:
        (self.weights, self.bias, self.hidden_weights, self.hidden_bias, self.lexical_weights, self._multiplier,
         table) = state
        self.encoder.restore(table)


@functools.cache
def _blas():
    """threadpoolctl's view of the loaded BLAS libraries, found once (finding them costs milliseconds)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def blas_threads(n: int):
    """A context in which BLAS uses at most ``n`` threads."""
    return _blas().limit(limits=n, user_api="blas")


def fit(encoder: Encoder, architecture: Architecture, targets: np.ndarray, train: np.ndarray, dev: np.ndarray,
        options: TrainOptions, multilabel: bool, seed: int, score: Callable[[np.ndarray], float],
        halves: Halves | None = None) -> Network:
    """Train on examples ``train``; early-stop on ``dev`` (or, without ``stop_on_dev``, run every epoch).

    ``targets`` is the indicator matrix of every example; ``score`` turns
    predictions for the ``dev`` examples into the headline score (higher is
    better). The encoder is standardised on ``train`` first and left holding
    the kept epoch's vectors. With ``halves`` of the dev units the network's
    selection score is cross-fitted (:mod:`shardvec.finetune.heldout`);
    without, it is the kept epoch's dev score.
    """
    # A minibatch's products are a few thousand multiply-adds: BLAS threads cost more to wake and join than
    # they save, and on a machine whose cores are busy far more (one Brown genre fit that updates the
    # vectors: 134 s with OpenBLAS's default threads on 2 loaded cores, 5.8 s with one).
    with blas_threads(1):
        return _fit(encoder, architecture, targets, train, dev, options, multilabel, seed, score, halves)


def _fit(encoder: Encoder, architecture: Architecture, targets: np.ndarray, train: np.ndarray, dev: np.ndarray,
         options: TrainOptions, multilabel: bool, seed: int, score: Callable[[np.ndarray], float],
         halves: Halves | None) -> Network:
    rng = np.random.default_rng(seed)
    network = Network(encoder, architecture, targets.shape[1], multilabel, rng)
    network.standardise(train)
    weigh = ClassWeights.of(options.class_weight, targets[train], multilabel)
    dev_targets = targets[dev]
    dev_inputs = network.inputs(dev)
    best_key, best_state, best_p, waited = None, None, None, 0
    cross = CrossFit(halves) if halves is not None else None
    for epoch in range(1, options.epochs + 1):
        order = rng.permutation(train)
        for start in range(0, len(order), options.batch_size):
            batch = order[start:start + options.batch_size]
            network.step(batch, targets[batch], weigh, options)
        if encoder.trainable:
            dev_inputs = network.inputs(dev)
        p = network.probabilities(dev_inputs)
        predicted = network.decide(p)
        dev_loss = cross_entropy(p, dev_targets, weigh, multilabel)
        dev_score = score(predicted)
        network.dev_losses.append(round(dev_loss, 5))
        network.dev_scores.append(round(dev_score, 5))
        network.epochs_run = epoch
        if cross is not None:
            cross.observe(p, lambda rows, scorer: _rank(options, scorer(predicted[rows]), cross_entropy(
                p[rows], dev_targets[rows], weigh, multilabel)))
        if not options.stop_on_dev:
            network.best_epoch, best_p = epoch, p
            continue
        key = _rank(options, dev_score, dev_loss)
        if best_key is None or key > best_key:
            best_key, waited, network.best_epoch, best_p = key, 0, epoch, p
            best_state = network.snapshot()
        else:
            waited += 1
            if waited >= options.patience:
                break
    if best_state is not None:
        network.restore(best_state)
    network.held_probabilities = cross.probabilities if cross is not None else best_p
    network.selection_score = round(score(network.decide(network.held_probabilities)), 5)
    return network


def _rank(options: TrainOptions, score: float, loss: float) -> tuple:
    """An epoch's key on held-out examples, higher is better: the score (ties: lower loss), or the loss."""
    return (score, -loss) if options.select_on == "score" else (-loss,)

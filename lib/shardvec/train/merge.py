"""Rules that combine shard models into one (pure numpy).

``average`` is the plain or count-weighted mean of input vectors and output
weights. ``procrustes`` first rotates each model onto a reference by the
orthogonal map that best aligns their frequent words, since independently
trained spaces agree only up to rotation; output weights get the same
rotation, so every dot product a model computes is unchanged by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ModelWeights:
    """Input vectors (``wv.vectors``) and output weights (``syn1neg`` or ``syn1``)."""

    vectors: np.ndarray
    output: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.vectors.nbytes + self.output.nbytes)


def average(models: list[ModelWeights], row_weights: np.ndarray | None = None) -> ModelWeights:
    """Mean of the models; ``row_weights`` (shards x V) weights each word's rows.

    A word with zero weight in every shard falls back to the plain mean.
    """
    if row_weights is None:
        w = np.ones((len(models), models[0].vectors.shape[0]), dtype=np.float64)
    else:
        w = np.asarray(row_weights, dtype=np.float64).copy()
        unseen = w.sum(axis=0) == 0
        w[:, unseen] = 1.0
    w /= w.sum(axis=0, keepdims=True)

    def mix(mats: list[np.ndarray]) -> np.ndarray:
        out = np.zeros_like(mats[0], dtype=np.float32)
        for k, m in enumerate(mats):
            out += (w[k][:, None] * m).astype(np.float32)
        return out

    return ModelWeights(mix([m.vectors for m in models]), mix([m.output for m in models]))


def orthogonal_map(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation R minimising ||source @ R - target|| (orthogonal Procrustes)."""
    u, _, vt = np.linalg.svd(source.T.astype(np.float64) @ target.astype(np.float64))
    return (u @ vt).astype(np.float32)


def procrustes(models: list[ModelWeights], row_weights: np.ndarray | None, anchors: int) -> ModelWeights:
    """Rotate every model onto the first over the ``anchors`` most frequent words, then average."""
    reference = models[0].vectors[:anchors]
    aligned = [models[0]]
    for m in models[1:]:
        r = orthogonal_map(m.vectors[:anchors], reference)
        aligned.append(ModelWeights(m.vectors @ r, m.output @ r))
    return average(aligned, row_weights)

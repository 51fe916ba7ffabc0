"""The arithmetic of the weight rules (pure numpy): means of whole shard models, built in a tree.

A shard model becomes a :class:`WeightedSum` (``weighted``: plain, or each
word's rows weighted by its count in the shard); partial sums add up the
reduction tree and the root divides once (``finish``). ``rotate_onto`` first
turns a model onto a reference by the orthogonal map that best aligns their
frequent words (Procrustes), since independently trained spaces agree only up
to rotation; output weights get the same rotation, so every dot product a
model computes is unchanged by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shardvec.train.weights import ModelWeights


@dataclass
class WeightedSum:
    """A partial combination: per-row weighted sums and the weights summed so far.

    Partial sums add associatively, so a round's shard models can be reduced
    in a tree on the workers instead of all at once on one of them.
    """

    vectors: np.ndarray
    output: np.ndarray
    weight: np.ndarray  # one weight per vocabulary row

    def __add__(self, other: "WeightedSum") -> "WeightedSum":
        return WeightedSum(self.vectors + other.vectors, self.output + other.output, self.weight + other.weight)

    @property
    def nbytes(self) -> int:
        return int(self.vectors.nbytes + self.output.nbytes + self.weight.nbytes)


# Added to every row weight so a word no shard has seen gets the plain mean.
_UNSEEN = 1e-6


def weighted(model: ModelWeights, row_weights: np.ndarray | None = None) -> WeightedSum:
    """A model as a one-term partial sum; without weights every row counts once."""
    n = model.vectors.shape[0]
    if row_weights is None:
        return WeightedSum(model.vectors, model.output, np.ones(n))
    w = np.asarray(row_weights, dtype=np.float64) + _UNSEEN
    w32 = w.astype(np.float32)[:, None]
    return WeightedSum(model.vectors * w32, model.output * w32, w)


def finish(total: WeightedSum, in_place: bool = False) -> ModelWeights:
    """Divide the sums by the weights; ``in_place`` reuses the sum's arrays (only when nothing else holds them)."""
    scale = (1.0 / total.weight).astype(np.float32)[:, None]
    if in_place:
        np.multiply(total.vectors, scale, out=total.vectors)
        np.multiply(total.output, scale, out=total.output)
        return ModelWeights(total.vectors, total.output)
    return ModelWeights(total.vectors * scale, total.output * scale)


def mean_into(out: ModelWeights, parts: list[ModelWeights]) -> None:
    """Write the plain mean of ``parts`` into ``out``'s arrays.

    Bit for bit what ``finish`` gives for the sum of the unweighted parts,
    without allocating the sum: periodic rounds load it straight into the
    trainer's model.
    """
    for name in ("vectors", "output"):
        target, arrays = getattr(out, name), [getattr(part, name) for part in parts]
        if len(arrays) == 1:
            np.copyto(target, arrays[0])
            continue
        np.add(arrays[0], arrays[1], out=target)  # no copy first: one pass less over the weights
        for array in arrays[2:]:
            np.add(target, array, out=target)
        np.multiply(target, np.float32(1.0 / len(arrays)), out=target)


def orthogonal_map(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation R minimising ||source @ R - target|| (orthogonal Procrustes)."""
    u, _, vt = np.linalg.svd(source.T.astype(np.float64) @ target.astype(np.float64))
    return (u @ vt).astype(np.float32)


def rotate_onto(model: ModelWeights, reference_anchors: np.ndarray) -> ModelWeights:
    """Rotate a model so its first ``len(reference_anchors)`` rows best match the reference's."""
    r = orthogonal_map(model.vectors[:len(reference_anchors)], reference_anchors)
    return ModelWeights(model.vectors @ r, model.output @ r)


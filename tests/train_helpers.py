"""The weight rules' merges all at once, as the tests check them (import with ``from train_helpers import ...``).

The Dask job never holds every shard model in one place: it sums them in a
tree of :func:`shardvec.train.merge.weighted` parts and divides once
(:func:`shardvec.train.merge.finish`). These put the same parts together in
one call, so a test can state what a tree of them must give.
"""

from __future__ import annotations

import numpy as np

from shardvec.train.merge import finish, rotate_onto, weighted
from shardvec.train.weights import ModelWeights


def average(models: list[ModelWeights], row_weights: np.ndarray | None = None) -> ModelWeights:
    """Mean of the models; ``row_weights`` (shards x V) weights each word's rows.

    A word with zero weight in every shard falls back to the plain mean.
    """
    parts = [weighted(m, None if row_weights is None else row_weights[k]) for k, m in enumerate(models)]
    return finish(sum(parts[1:], parts[0]))


def procrustes(models: list[ModelWeights], row_weights: np.ndarray | None, anchors: int) -> ModelWeights:
    """Rotate every model onto the first over the ``anchors`` most frequent words, then average."""
    reference = models[0].vectors[:anchors]
    return average([rotate_onto(m, reference) for m in models], row_weights)

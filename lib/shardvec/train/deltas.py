"""Sparse row deltas: what a shard changed in one round, and only that.

A shard's round touches the input vectors of the words in its part of the
corpus and the output weights of their contexts and negative samples; most
rare words are untouched. A :class:`Delta` holds, for each of the two
matrices, the indices of the rows that changed and their change, optionally
as float16, so a round sends what moved instead of the whole model. Deltas
combine pairwise (the reduction tree's fan-in of 2) over the union of their
rows; ``hits`` counts how many shard deltas touched each row, which rules
such as the touched-row average need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from shardvec.train.weights import ModelWeights


@dataclass
class Rows:
    """Changed rows of one matrix: sorted indices, their values, and how many shards touched each."""

    index: np.ndarray  # int32, sorted, unique
    values: np.ndarray  # len(index) x d, float32 or float16
    hits: np.ndarray  # int32, shard deltas that touched each row

    @property
    def nbytes(self) -> int:
        return int(self.index.nbytes + self.values.nbytes + self.hits.nbytes)

    def as_float32(self) -> np.ndarray:
        return self.values if self.values.dtype == np.float32 else self.values.astype(np.float32)

    def encoded(self, dtype: str) -> "Rows":
        """The same rows with values stored as ``dtype`` for sending."""
        if self.values.dtype == np.dtype(dtype):
            return self
        return Rows(self.index, self.values.astype(dtype), self.hits)


@dataclass
class Delta:
    """The change of both matrices, as sparse rows."""

    vectors: Rows
    output: Rows

    @property
    def nbytes(self) -> int:
        return self.vectors.nbytes + self.output.nbytes

    def encoded(self, dtype: str) -> "Delta":
        return Delta(self.vectors.encoded(dtype), self.output.encoded(dtype))


# Rows per block of the element-wise passes: a few MiB, so the passes over one block stay in cache and most
# temporaries are block-sized instead of weight-sized arrays freshly mapped (and page-faulted) each round.
BLOCK_ROWS = 4096


def _blocks(n: int) -> range:
    return range(0, n, BLOCK_ROWS)


def changed_rows(current: np.ndarray, start: np.ndarray, dtype: str = "float32") -> Rows:
    """The rows where ``current`` differs from ``start``, with their difference.

    Written block by block into one array sized for every row; the part
    past the changed rows is never written (nor, for a large array, mapped in).
    """
    n, d = current.shape
    index, values, filled = np.empty(n, np.int32), np.empty((n, d), dtype), 0
    for lo in _blocks(n):
        diff = current[lo:lo + BLOCK_ROWS] - start[lo:lo + BLOCK_ROWS]
        touched = np.flatnonzero((diff != 0).any(axis=1))
        end = filled + len(touched)
        values[filled:end] = diff if len(touched) == len(diff) else diff[touched]
        index[filled:end] = touched + lo
        filled = end
    return Rows(index[:filled], values[:filled], np.ones(filled, np.int32))


def delta_between(current: ModelWeights, start: ModelWeights, dtype: str = "float32") -> Delta:
    """What training changed between ``start`` and ``current``, as sparse rows."""
    return Delta(changed_rows(current.vectors, start.vectors, dtype), changed_rows(current.output, start.output, dtype))


PairRule = Callable[[np.ndarray, np.ndarray], np.ndarray]


def combine_rows(a: Rows, b: Rows, pair: PairRule) -> Rows:
    """Two row sets combined over the union of their rows.

    ``pair`` combines the rows both sides touched (float32, aligned); a row
    only one side touched is taken as it is, which every rule's pair does
    for a zero partner (``pair(x, 0) == x``), so nothing is padded with zeros
    or computed for it. Rows are matched through boolean masks over the
    row numbers (linear, no sorting); when both sides touched the same rows,
    as the output weights mostly are, the pair runs on them in place.
    """
    if np.array_equal(a.index, b.index):
        values = np.empty((len(a.index), a.values.shape[1]), np.float32)
        for lo in _blocks(len(a.index)):
            block = slice(lo, lo + BLOCK_ROWS)
            values[block] = pair(a.values[block].astype(np.float32, copy=False),
                                 b.values[block].astype(np.float32, copy=False))
        return Rows(a.index, values, a.hits + b.hits)
    n = 1 + max(int(a.index[-1]) if len(a.index) else -1, int(b.index[-1]) if len(b.index) else -1)
    mask_a, mask_b = np.zeros(n, bool), np.zeros(n, bool)
    mask_a[a.index], mask_b[b.index] = True, True
    union = mask_a | mask_b
    index = np.flatnonzero(union).astype(np.int32)
    rank = np.cumsum(union, dtype=np.int64) - 1  # row number -> its place in the union
    pos_a, pos_b = rank[a.index], rank[b.index]
    in_b, in_a = mask_b[a.index], mask_a[b.index]
    values = np.empty((len(index), a.values.shape[1]), np.float32)
    values[pos_a[~in_b]] = a.values[~in_b]
    values[pos_b[~in_a]] = b.values[~in_a]
    both_a, both_b, target = np.flatnonzero(in_b), np.flatnonzero(in_a), pos_a[in_b]
    for lo in _blocks(len(both_a)):
        block = slice(lo, lo + BLOCK_ROWS)
        values[target[block]] = pair(a.values[both_a[block]].astype(np.float32, copy=False),
                                     b.values[both_b[block]].astype(np.float32, copy=False))
    hits = np.zeros(len(index), np.int32)
    hits[pos_a] += a.hits
    hits[pos_b] += b.hits
    return Rows(index, values, hits)


def combine(a: Delta, b: Delta, pair: PairRule) -> Delta:
    return Delta(combine_rows(a.vectors, b.vectors, pair), combine_rows(a.output, b.output, pair))


def add_into(target: np.ndarray, rows: Rows) -> None:
    """``target[rows] += values``, in place, block by block."""
    for lo in _blocks(len(rows.index)):
        index = rows.index[lo:lo + BLOCK_ROWS]
        target[index] += rows.values[lo:lo + BLOCK_ROWS]

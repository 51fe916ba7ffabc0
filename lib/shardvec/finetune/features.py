"""Inputs of the classifiers: rows of word vectors, looked up and combined.

An encoder turns example indices into a feature matrix and, when its vectors
are trainable, takes the gradient of those features back into them. It works
on a private table holding only the rows of words the target data uses, so a
20k- or 2M-word vocabulary costs the same, and the pretrained KeyedVectors are
never written: frozen vectors are frozen because no code path writes them.

Features are standardised per dimension on the training examples and then
scaled so that their largest principal variance is one. Random,
target-trained and pretrained vectors differ in scale by orders of magnitude;
after this, one learning rate means the same step for all of them.
"""

from __future__ import annotations

import copy
import zlib

import numpy as np
import scipy.sparse as sp

_MIN_STD = 1e-8


class WordTable:
    """The rows of ``kv`` that ``sentences`` use, copied into a private float32 table."""

    def __init__(self, kv, sentences: list[list[str]]):
        used = dict.fromkeys(t for s in sentences for t in s if t in kv.key_to_index)
        self.words: list[str] = list(used)
        self.row: dict[str, int] = {w: i for i, w in enumerate(self.words)}
        self.dim: int = kv.vector_size
        rows = [kv.key_to_index[w] for w in self.words]
        self.vectors = np.array(kv.vectors[rows], dtype=np.float32).reshape(len(rows), self.dim)

    def coverage(self, sentences: list[list[str]]) -> float | None:
        """Share of tokens that have a vector (None for no tokens)."""
        total = sum(len(s) for s in sentences)
        return round(sum(t in self.row for s in sentences for t in s) / total, 4) if total else None


def bigram_bucket(first: str, second: str, buckets: int) -> int:
    """A stable hash bucket for a word pair (crc32: Python's ``hash`` changes per process)."""
    return zlib.crc32(f"{first}\x1f{second}".encode()) % buckets


def top_variance(z: np.ndarray, iterations: int = 30) -> float:
    """The largest eigenvalue of ``z.T @ z / n`` by power iteration (z centred).

    Dividing features by its square root bounds the curvature of the
    cross-entropy in the classifier weights by 1/2, so SGD is stable for
    learning rates up to about 4, and the smaller directions learn as fast as
    that bound allows. Dividing by the dimension instead would be safe too,
    but needlessly slow: word-vector dimensions are strongly correlated.
    """
    if len(z) == 0:
        return 1.0
    v = np.random.default_rng(0).standard_normal(z.shape[1]).astype(z.dtype)  # no upcast copy of z
    value = 1.0
    for _ in range(iterations):
        w = z.T @ (z @ v) / len(z)
        value = float(np.linalg.norm(w))
        if value <= _MIN_STD:
            return 1.0
        v = w / value
    return value


class Encoder:
    """Embedding rows combined into features; rows from ``trainable_from`` on are updated.

    Subclasses say how examples pick rows: :meth:`_raw` builds raw features for
    some examples and :meth:`_scatter` returns, for a raw-feature gradient,
    the table rows touched and their gradients.
    """

    def __init__(self, table: np.ndarray, trainable_from: int):
        self.table = table
        self.trainable_from = trainable_from
        self.shift = np.zeros(self.out_dim, dtype=np.float32)
        self.scale = np.ones(self.out_dim, dtype=np.float32)

    @property
    def out_dim(self) -> int:
        raise NotImplementedError

    @property
    def trainable(self) -> bool:
        return self.trainable_from < len(self.table)

    def _raw(self, items: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _scatter(self, items: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def fresh(self) -> "Encoder":
        """A copy for one training run: shared lookups, its own table if that is trained."""
        clone = copy.copy(self)
        clone.table = self.table.copy() if self.trainable else self.table
        return clone

    def standardise(self, items: np.ndarray) -> None:
        """Fix the affine map from raw features using ``items`` (the training examples)."""
        raw = self._raw(items)
        std = np.maximum(raw.std(axis=0, dtype=np.float64), _MIN_STD)
        self.shift = raw.mean(axis=0, dtype=np.float64).astype(np.float32)
        z = (raw - self.shift) / std.astype(np.float32)
        self.scale = (1.0 / (std * np.sqrt(top_variance(z)))).astype(np.float32)

    def forward(self, items: np.ndarray) -> np.ndarray:
        """Standardised float32 features: a tagger's dev set is tokens x (2 * window + 1) x dim of them."""
        return (self._raw(items) - self.shift) * self.scale

    def backward(self, items: np.ndarray, grad: np.ndarray, learning_rate: float) -> None:
        """Gradient step on the trainable rows used by ``items``; nothing else is written."""
        if not self.trainable:
            return
        rows, row_grads = self._scatter(items, grad * self.scale)
        keep = rows >= self.trainable_from
        self.table[rows[keep]] -= (learning_rate * row_grads[keep]).astype(self.table.dtype)

    def snapshot(self) -> np.ndarray | None:
        return self.table[self.trainable_from:].copy() if self.trainable else None

    def restore(self, state: np.ndarray | None) -> None:
        if state is not None:
            self.table[self.trainable_from:] = state


class BagEncoder(Encoder):
    """A document is the mean of its word vectors and, optionally, of hashed bigram rows.

    Bigram rows (fastText's buckets) start at zero and are always trained:
    they are the classifier's own parameters, not pretrained vectors. Only
    buckets that some document uses get a row, so, as for words, the table's
    size follows the data and not ``buckets``.
    """

    def __init__(self, words: WordTable, docs: list[list[str]], update_vectors: bool, buckets: int = 0):
        n_words = len(words.words)
        bucket_row: dict[int, int] = {}
        rows, cols, vals = [], [], []
        for i, doc in enumerate(docs):
            found = [words.row[t] for t in doc if t in words.row]
            if buckets:
                found += [n_words + bucket_row.setdefault(bigram_bucket(a, b, buckets), len(bucket_row))
                          for a, b in zip(doc, doc[1:])]
            rows += [i] * len(found)
            cols += found
            vals += [1.0 / max(len(found), 1)] * len(found)
        n_rows = n_words + len(bucket_row)
        self.matrix = sp.csr_matrix((np.array(vals, dtype=np.float32), (rows, cols)), shape=(len(docs), n_rows))
        table = np.vstack([words.vectors, np.zeros((len(bucket_row), words.dim), dtype=np.float32)])
        self._dim = words.dim
        super().__init__(table, 0 if update_vectors else n_words)

    @property
    def out_dim(self) -> int:
        return self._dim

    def _used(self, items: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
        """The table rows ``items`` use, and their document matrix restricted to those rows.

        Products then touch only those rows: multiplying by the whole table
        would cost its size on every minibatch.
        """
        part = self.matrix[items]
        rows, inverse = np.unique(part.indices, return_inverse=True)
        return rows, sp.csr_matrix((part.data, inverse, part.indptr), shape=(len(items), len(rows)))

    def _raw(self, items: np.ndarray) -> np.ndarray:
        rows, part = self._used(items)
        return part @ self.table[rows]

    def _scatter(self, items: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, part = self._used(items)
        return rows, part.T @ grad

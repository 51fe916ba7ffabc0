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

A document's vector is a weighted average of its words' vectors
(:class:`TermWeights`: plain, TF-IDF or SIF weights from the training
texts). Products of sparse rows with a table go through :class:`SparseRows`,
whose minibatch path avoids scipy's per-call cost; a frozen document
encoder computes every document's raw features once and shares them with
all its copies.
"""

from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass

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


def top_variance(z: np.ndarray | sp.csr_matrix, iterations: int = 30) -> float:
    """The largest eigenvalue of ``z.T @ z / n`` by power iteration (z centred, or sparse).

    Dividing features by its square root bounds the curvature of the
    cross-entropy in the classifier weights by 1/2, so SGD is stable for
    learning rates up to about 4, and the smaller directions learn as fast as
    that bound allows. Dividing by the dimension instead would be safe too,
    but needlessly slow: word-vector dimensions are strongly correlated.
    """
    if z.shape[0] == 0 or z.shape[1] == 0:
        return 1.0
    v = np.random.default_rng(0).standard_normal(z.shape[1]).astype(z.dtype)  # no upcast copy of z
    value = 1.0
    for _ in range(iterations):
        w = z.T @ (z @ v) / z.shape[0]
        previous, value = value, float(np.linalg.norm(w))
        if value <= _MIN_STD:
            return 1.0
        v = w / value
        if abs(value - previous) <= 1e-3 * value:  # converged: the scale needs no more digits
            break
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


SIF_A = 1e-3  # Arora et al. 2017's smoothing: a word of frequency p weighs a / (a + p)


class TermWeights:
    """How much each term (a word, or a word pair ``"a b"``) weighs in a document's average.

    Computed from the training split's texts, without labels: ``mean`` weighs
    every occurrence 1; ``tfidf`` weighs it ``1 + log((1 + n) / (1 + df))``
    (scikit-learn's smoothed IDF), so words every document has count for
    little; ``sif`` weighs it ``a / (a + p)`` with ``p`` the term's share of
    all terms (Arora, Liang and Ma 2017: the weighting half of SIF; the
    common component is left to the classifier). A term the training texts
    never hold gets the weight of the rarest.
    """

    def __init__(self, docs: list[list[str]], scheme: str, bigrams: bool):
        self.scheme = scheme
        self.bigrams = bigrams
        self._weights: dict[str, float] = {}
        self._unseen = 1.0
        if scheme == "mean":
            return
        counts: dict[str, int] = {}
        doc_freq: dict[str, int] = {}
        for doc in docs:
            terms = self.terms(doc)
            for t in terms:
                counts[t] = counts.get(t, 0) + 1
            for t in set(terms):
                doc_freq[t] = doc_freq.get(t, 0) + 1
        if scheme == "tfidf":
            n = len(docs)
            self._weights = {t: 1.0 + np.log((1 + n) / (1 + df)) for t, df in doc_freq.items()}
            self._unseen = 1.0 + float(np.log(1 + n))
        else:
            total = max(sum(counts.values()), 1)
            self._weights = {t: SIF_A / (SIF_A + c / total) for t, c in counts.items()}

    def terms(self, doc: list[str]) -> list[str]:
        return doc + ([f"{a} {b}" for a, b in zip(doc, doc[1:])] if self.bigrams else [])

    def __call__(self, term: str) -> float:
        return self._weights.get(term, self._unseen) if self._weights else 1.0


class SparseRows:
    """A CSR matrix whose row products are cheap for minibatches.

    scipy's sparse operations cost tens of microseconds each before any
    arithmetic, which for a minibatch of 16 documents is most of a step. For
    small row sets the products here are a handful of plain numpy calls on
    the CSR arrays; large ones (a dev split, a whole training set) go to
    scipy, which never materialises a row per stored value.
    """

    SMALL = 256  # row sets up to this size take the numpy path

    def __init__(self, matrix: sp.csr_matrix):
        self.matrix = sp.csr_matrix(matrix, dtype=np.float32)
        self.matrix.sum_duplicates()
        self.indptr = self.matrix.indptr.astype(np.int64)
        self.indices = self.matrix.indices.astype(np.int64)
        self.data = self.matrix.data
        self.shape = self.matrix.shape

    def batch(self, items: np.ndarray) -> "RowBatch":
        """Rows ``items`` as a small dense matrix over the columns they use."""
        starts = self.indptr[items]
        lengths = self.indptr[items + 1] - starts
        offsets = np.cumsum(lengths) - lengths
        pos = np.arange(int(lengths.sum())) - np.repeat(offsets - starts, lengths)
        cols, inverse = np.unique(self.indices[pos], return_inverse=True)
        dense = np.zeros((len(items), len(cols)), dtype=np.float32)
        dense[np.repeat(np.arange(len(items)), lengths), inverse.ravel()] = self.data[pos]  # CSR rows: no repeats
        return RowBatch(cols, dense)

    def dot(self, items: np.ndarray, table: np.ndarray) -> np.ndarray:
        """``matrix[items] @ table``."""
        if len(items) > self.SMALL:
            return np.asarray(self.matrix[items] @ table, dtype=table.dtype)
        return self.batch(items).dot(table)


@dataclass(frozen=True)
class RowBatch:
    """Some rows of a :class:`SparseRows`, dense over the columns they use: two BLAS products per step."""

    cols: np.ndarray  # the distinct columns used, sorted
    dense: np.ndarray  # rows x cols

    def dot(self, table: np.ndarray) -> np.ndarray:
        return self.dense @ table[self.cols]

    def transpose_dot(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The columns used and ``rows.T @ grad`` for each."""
        return self.cols, self.dense.T @ grad


class BagEncoder(Encoder):
    """A document is the weighted mean of its word vectors and, optionally, of hashed bigram rows.

    Bigram rows (fastText's buckets) start at zero and are always trained:
    they are the classifier's own parameters, not pretrained vectors. Only
    buckets that some document uses get a row, so, as for words, the table's
    size follows the data and not ``buckets``. Words without a vector are
    left out of the mean (the lexical part still sees them).
    """

    def __init__(self, words: WordTable, docs: list[list[str]], update_vectors: bool, buckets: int = 0,
                 weights: TermWeights | None = None):
        weigh = weights or TermWeights([], "mean", False)
        n_words = len(words.words)
        bucket_row: dict[int, int] = {}
        rows, cols, vals = [], [], []
        for i, doc in enumerate(docs):
            found = [(words.row[t], weigh(t)) for t in doc if t in words.row]
            if buckets:
                found += [(n_words + bucket_row.setdefault(bigram_bucket(a, b, buckets), len(bucket_row)),
                           weigh(f"{a} {b}")) for a, b in zip(doc, doc[1:])]
            total = sum(w for _, w in found) or 1.0
            rows += [i] * len(found)
            cols += [c for c, _ in found]
            vals += [w / total for _, w in found]
        n_rows = n_words + len(bucket_row)
        self.rows = SparseRows(sp.csr_matrix((np.array(vals, dtype=np.float32), (rows, cols)),
                                             shape=(len(docs), n_rows)))
        table = np.vstack([words.vectors, np.zeros((len(bucket_row), words.dim), dtype=np.float32)])
        self._dim = words.dim
        self._frozen_raw: np.ndarray | None = None
        self._last: tuple[np.ndarray | None, RowBatch | None] = (None, None)
        super().__init__(table, 0 if update_vectors else n_words)

    @property
    def matrix(self) -> sp.csr_matrix:
        return self.rows.matrix

    @property
    def out_dim(self) -> int:
        return self._dim

    def _raw(self, items: np.ndarray) -> np.ndarray:
        if self.trainable:
            if len(items) > SparseRows.SMALL:
                return self.rows.dot(items, self.table)
            self._last = (items, self.rows.batch(items))  # the step's backward reuses it
            return self._last[1].dot(self.table)
        if self._frozen_raw is None:  # computed once and shared by every fresh copy: the table never changes
            self._frozen_raw = self.rows.dot(np.arange(self.rows.shape[0]), self.table)
        return self._frozen_raw[items]

    def fresh(self) -> "Encoder":
        if not self.trainable and self._frozen_raw is None:
            self._raw(np.zeros(0, dtype=np.int64))
        return super().fresh()

    def _scatter(self, items: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        last_items, batch = self._last
        if last_items is not items:
            batch = self.rows.batch(items)
        return batch.transpose_dot(grad)

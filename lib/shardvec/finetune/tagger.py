"""Token classification from a window of word vectors (Collobert et al. 2011, without the convolution).

A token's features are the vectors of the ``window`` words on each side and
of itself, concatenated in order, so the softmax sees both what a word is and
where its neighbours stand (``B-`` versus ``I-`` is decided by the word to the
left). Positions past a sentence edge read a zero row that is never trained.

A word without a vector does not read zeros: it reads a row of its *kind*,
which the classifier trains (like bigram buckets, these rows are its own
parameters, trained even when the vectors are frozen; they start random). Punctuation marks get
one row each (``,`` and ``.`` are tagged differently), numbers share one,
other unknown words share one per shape (``Xx``, ``x``, ``x-x`` ...): the
pretraining corpus of ``shardvec prepare`` drops punctuation, so without
this every comma, full stop and number of a target sentence looked the same.
"""

from __future__ import annotations

import numpy as np

from shardvec.finetune.features import Encoder, WordTable
from shardvec.finetune.lexical import shape


def unknown_kind(token: str, raw: str) -> str:
    """The row a word without a vector reads: the mark itself, ``<num>``, or its shape."""
    if not any(c.isalnum() for c in token):
        return f"<{token}>"
    if any(c.isdigit() for c in token):
        return "<num>"
    return f"<{shape(raw)}>"


class WindowEncoder(Encoder):
    """Examples are tokens, numbered sentence by sentence."""

    def __init__(self, words: WordTable, sentences: list[list[str]], window: int, update_vectors: bool,
                 raw: list[list[str]] | None = None):
        n_words = len(words.words)
        kinds: dict[str, int] = {}
        ids_of = []
        for s, sentence in enumerate(sentences):
            written = raw[s] if raw is not None else sentence
            ids_of.append([words.row[t] if t in words.row else
                           n_words + kinds.setdefault(unknown_kind(t, r), len(kinds))
                           for t, r in zip(sentence, written)])
        pad = n_words + len(kinds)
        width = 2 * window + 1
        columns = [np.zeros((0, width), dtype=np.int64)]
        for found in ids_of:
            ids = np.array(found, dtype=np.int64)
            padded = np.concatenate([np.full(window, pad), ids, np.full(window, pad)])
            columns.append(np.stack([padded[k:k + len(ids)] for k in range(width)], axis=1))
        self.windows = np.concatenate(columns)
        self.kinds = list(kinds)
        self._dim = width * words.dim
        self._word_dim = words.dim
        # Rows: the words' vectors, then one row per unknown kind, then the padding row, which _scatter never
        # returns, so it stays zero. Kind rows start random at the words' scale: zero rows would have no
        # variance for the standardisation to measure, and their features would be scaled without bound.
        scale = float(words.vectors.std()) if len(words.vectors) else 1.0 / np.sqrt(max(words.dim, 1))
        start = np.random.default_rng(0).standard_normal((len(kinds), words.dim)) * (scale or 1.0)
        table = np.vstack([words.vectors, start.astype(np.float32), np.zeros((1, words.dim), dtype=np.float32)])
        super().__init__(table, 0 if update_vectors else n_words)

    @property
    def out_dim(self) -> int:
        return self._dim

    @property
    def trainable(self) -> bool:
        return self.trainable_from < len(self.table) - 1  # the padding row alone is not trainable

    def _raw(self, items: np.ndarray) -> np.ndarray:
        return self.table[self.windows[items]].reshape(len(items), -1)

    def _scatter(self, items: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = self.windows[items].reshape(-1)
        per_slot = grad.reshape(-1, self._word_dim)
        rows, inverse = np.unique(ids, return_inverse=True)
        onehot = np.zeros((len(ids), len(rows)), dtype=per_slot.dtype)  # slots x rows: one BLAS product sums them
        onehot[np.arange(len(ids)), inverse.ravel()] = 1.0
        sums = onehot.T @ per_slot
        real = rows < len(self.table) - 1
        return rows[real], sums[real]

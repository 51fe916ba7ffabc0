"""Token classification from a window of word vectors (Collobert et al. 2011, without the convolution).

A token's features are the vectors of the ``window`` words on each side and
of itself, concatenated in order, so the softmax sees both what a word is and
where its neighbours stand (``B-`` versus ``I-`` is decided by the word to the
left). Positions past a sentence edge and words without a vector read a
zero row that is never trained.
"""

from __future__ import annotations

import numpy as np

from shardvec.finetune.features import Encoder, WordTable


class WindowEncoder(Encoder):
    """Examples are tokens, numbered sentence by sentence."""

    def __init__(self, words: WordTable, sentences: list[list[str]], window: int, update_vectors: bool):
        pad = len(words.words)
        width = 2 * window + 1
        columns = [np.zeros((0, width), dtype=np.int64)]
        for sentence in sentences:
            ids = np.array([words.row.get(t, pad) for t in sentence], dtype=np.int64)
            padded = np.concatenate([np.full(window, pad), ids, np.full(window, pad)])
            columns.append(np.stack([padded[k:k + len(ids)] for k in range(width)], axis=1))
        self.windows = np.concatenate(columns)
        self._dim = width * words.dim
        self._word_dim = words.dim
        # The padding row is the last row; _scatter never returns it, so it stays zero.
        table = np.vstack([words.vectors, np.zeros((1, words.dim), dtype=np.float32)])
        super().__init__(table, 0 if update_vectors else len(table))

    @property
    def out_dim(self) -> int:
        return self._dim

    def _raw(self, items: np.ndarray) -> np.ndarray:
        return self.table[self.windows[items]].reshape(len(items), -1)

    def _scatter(self, items: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = self.windows[items].reshape(-1)
        per_slot = grad.reshape(-1, self._word_dim)
        rows, inverse = np.unique(ids, return_inverse=True)
        sums = np.zeros((len(rows), self._word_dim))
        np.add.at(sums, inverse, per_slot)
        real = rows < len(self.table) - 1
        return rows[real], sums[real]

"""The trainable state of a Word2Vec model, as plain arrays."""

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

    def copy(self) -> "ModelWeights":
        return ModelWeights(self.vectors.copy(), self.output.copy())

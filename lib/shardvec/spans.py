"""Index ranges laid end to end: the one numpy idiom the tokenizer, the shard dealer and the bootstrap share."""

from __future__ import annotations

import numpy as np


def spans(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Every index in ``starts[i]`` .. ``starts[i] + lengths[i] - 1``, range after range, in one numpy pass
    (no Python loop over the ranges, which number in the millions for a batch's tokens)."""
    return np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())

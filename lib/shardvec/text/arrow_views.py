"""Zero-copy numpy views of an Arrow string array's buffers, for kernels that work on a whole batch's bytes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def string_offsets(texts: pa.StringArray) -> np.ndarray:
    """The int32 offsets of a (possibly sliced) string array into its data buffer, one more than its rows."""
    return np.frombuffer(texts.buffers()[1], dtype=np.int32)[texts.offset:texts.offset + len(texts) + 1]


def string_bytes(texts: pa.StringArray) -> np.ndarray:
    """The bytes of all the texts, back to back (from the first text's first byte to the last's end)."""
    offsets = string_offsets(texts)
    return np.frombuffer(texts.buffers()[2] or b"", dtype=np.uint8)[offsets[0]:offsets[-1]]

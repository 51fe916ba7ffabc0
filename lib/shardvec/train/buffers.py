"""Weight-sized arrays reused from round to round instead of allocated afresh.

A periodic round on one worker needs new arrays of the model's size (tens of
megabytes each) for the weights it starts from and for its checkpoint. Fresh
arrays that large (above glibc's mmap threshold) are mapped from the kernel,
zeroed page by page and unmapped again every round, which showed up as
system time in the profile (``bench/train_profile.py``). The pool hands an array out again only when
nothing but the pool refers to it: no shard result Dask still holds, no
view, no buffer being sent to another worker. Reuse therefore never
overwrites data anyone may still read, however Dask schedules, retries or
recomputes a round; it only avoids paying for fresh pages.
"""

from __future__ import annotations

import sys
import threading

import numpy as np


def _refs(arrays: list[np.ndarray], i: int) -> int:
    return sys.getrefcount(arrays[i])


# What ``_refs`` reports for an array only a list holds; measured, so it is right on any CPython.
_ONLY_LISTED = _refs([np.empty(0)], 0)


class ArrayPool:
    """Arrays handed out for reuse once nothing outside the pool holds them (thread-safe)."""

    def __init__(self) -> None:
        self._arrays: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An array of this shape and dtype, with arbitrary contents: an idle pooled one, else a new one."""
        with self._lock:
            # By index: a loop variable (or enumerate's cached tuple) would itself hold the array.
            for i in range(len(self._arrays)):
                fits = self._arrays[i].shape == shape and self._arrays[i].dtype == dtype
                if fits and _refs(self._arrays, i) == _ONLY_LISTED:
                    return self._arrays[i]
            fresh = np.empty(shape, dtype)
            self._arrays.append(fresh)
            return fresh

    def __len__(self) -> int:
        return len(self._arrays)

    def clear(self) -> None:
        """Forget every array; those still in use live on with their users."""
        with self._lock:
            self._arrays.clear()

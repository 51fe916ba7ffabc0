"""Time of combining two shards' sparse deltas (``combine_rows``, AdaSum's pair), at several densities.

    python bench/delta_combine.py                   # this checkout
    PYTHONPATH=<other checkout>/lib python bench/delta_combine.py   # another, for a side-by-side ratio

Rows and values are random; the size is the train benchmark's (116,784 words x 100 dimensions). Prints
CPU milliseconds per combination (median of 7; CPU time, so
other jobs on the machine slow the run but do not inflate the figure) for each share of rows touched by each side.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from shardvec.train.deltas import Rows, combine_rows
from shardvec.train.rules import adasum_pair

WORDS, DIM = 116_784, 100


def random_rows(rng: np.random.Generator, share: float) -> Rows:
    index = np.sort(rng.choice(WORDS, int(WORDS * share), replace=False)).astype(np.int32)
    return Rows(index, rng.standard_normal((len(index), DIM), dtype=np.float32), np.ones(len(index), np.int32))


def main() -> None:
    rng = np.random.default_rng(0)
    for share in (0.01, 0.05, 0.4, 0.6, 1.0):
        a, b = random_rows(rng, share), random_rows(rng, share)
        times = []
        for _ in range(7):
            start = time.process_time()
            combine_rows(a, b, adasum_pair)
            times.append(time.process_time() - start)
        print(f"rows touched {share:>5.0%}: {statistics.median(times) * 1000:7.1f} ms CPU")


if __name__ == "__main__":
    main()

"""Shards balanced by token count, cut from the spilled part files by token range.

The sentences' global order is the order of the Spark partitions that
produced them, then their order within a partition (both fixed by the input
files, the config and Spark's parallelism: see
:mod:`shardvec.spark.prepare_job`). Each partition's part file
(:func:`shardvec.spark.records.spill_step`) reports its token count, which
gives every part its global token offset. Shard ``k`` takes the tokens in
``[floor(k*T/N), floor((k+1)*T/N))``: a sentence that straddles a boundary is
cut there, so shard sizes differ by at most one token whatever the input
size. One Spark task per shard reads only the parts its range overlaps,
streaming them batch by batch; no token passes through the JVM.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shardvec.corpus import SHARD_SCHEMA


@dataclass(frozen=True)
class Part:
    """One task's spilled sentences: the file, and the global offset of its first token."""

    path: str
    start: int
    tokens: int


def shard_boundaries(total: int, n_shards: int) -> list[int]:
    """Start offset of each shard's token range."""
    return [k * total // n_shards for k in range(n_shards)]


def place_parts(parts: list[tuple[int, str, int]]) -> tuple[list[Part], int]:
    """(partition, path, tokens) rows -> parts in partition order with global offsets, and the total."""
    placed, running = [], 0
    for _, path, tokens in sorted(parts):
        placed.append(Part(path, running, tokens))
        running += tokens
    return placed, running


def cut(batch: pa.ListArray, start: int, lo: int, hi: int) -> pa.ListArray:
    """The tokens of ``batch`` (first token at global offset ``start``) within ``[lo, hi)``.

    Sentences wholly inside stay whole, those straddling ``lo`` or ``hi`` are
    cut there, the rest are left out; done on the offsets, not per sentence.
    """
    offsets = np.asarray(batch.offsets, dtype=np.int64) - batch.offsets[0].as_py() + start
    first = max(int(np.searchsorted(offsets, lo, side="right")) - 1, 0)
    last = int(np.searchsorted(offsets, hi, side="left"))
    bounds = np.clip(offsets[first:last + 1], lo, hi) - lo
    values = batch.flatten().slice(lo - start, hi - lo)
    return pa.ListArray.from_arrays(pa.array(bounds.astype(np.int32)), values)


def shard_pieces(parts: list[Part], lo: int, hi: int) -> Iterator[pa.ListArray]:
    """The sentences (and cut sentences) of the global token range ``[lo, hi)``, in order."""
    for part in parts:
        if part.start >= hi or part.start + part.tokens <= lo:
            continue
        start = part.start
        for batch in pq.ParquetFile(part.path).iter_batches(columns=["tokens"]):
            column = batch.column(0)
            end = start + len(column.flatten())
            if end > lo and start < hi:
                yield cut(column, start, max(lo, start), min(hi, end))
            start = end


def write_shard(parts: list[Part], lo: int, hi: int, path: str) -> dict[str, Any]:
    """Write one shard file; return its sentence and token counts."""
    sentences = 0
    with pq.ParquetWriter(path, SHARD_SCHEMA) as writer:
        for piece in shard_pieces(parts, lo, hi):
            writer.write_batch(pa.record_batch([piece], schema=SHARD_SCHEMA))
            sentences += len(piece)
    return {"file": os.path.basename(path), "sentences": sentences, "tokens": hi - lo}


def write_balanced_shards(spark, parts: list[Part], total: int, n_shards: int,  # type: ignore[no-untyped-def]
                          staging: Path) -> list[dict[str, Any]]:
    """Write ``staging/shards/shard-NNNNN.parquet`` with one Spark task per shard; return each shard's counts."""
    out = staging / "shards"
    out.mkdir()
    ends = shard_boundaries(total, n_shards)[1:] + [total]
    plans = [(lo, hi, str((out / f"shard-{k:05d}.parquet").resolve()))
             for k, (lo, hi) in enumerate(zip(shard_boundaries(total, n_shards), ends))]
    return (spark.sparkContext.parallelize(plans, n_shards)
            .map(lambda plan: write_shard(parts, *plan)).collect())

"""Shards balanced by token count, deterministically and without a driver-side pass over data.

The sentences' global order is their partitions' order, then their order
within a partition (both fixed by the input files, the config and Spark's
parallelism: see :mod:`shardvec.spark.prepare_job`). Each partition's token
total (one number per partition reaches the driver) gives every partition
its starting offset, so each sentence knows its global token range without a
global sort. Shard ``k`` takes the tokens in ``[floor(k*T/N),
floor((k+1)*T/N))``: a sentence that straddles a boundary is cut there, so
shard sizes differ by at most one token whatever the input size. One
shuffle groups the pieces by shard; within a shard they keep the global
order.
"""

from __future__ import annotations

import bisect
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shardvec.corpus import SHARD_SCHEMA

_PIECES_DDL = "shard int, pos long, tokens array<string>"
_PIECES_SCHEMA = pa.schema([("shard", pa.int32()), ("pos", pa.int64()), ("tokens", pa.list_(pa.string()))])


def shard_boundaries(total: int, n_shards: int) -> list[int]:
    """Start offset of each shard's token range."""
    return [k * total // n_shards for k in range(n_shards)]


def split_at_boundaries(start: int, tokens: list[str], boundaries: list[int]) -> list[tuple[int, list[str]]]:
    """(shard, piece) for a sentence whose first token has global offset ``start``."""
    pieces = []
    pos, end = start, start + len(tokens)
    while pos < end:
        shard = bisect.bisect_right(boundaries, pos) - 1
        stop = boundaries[shard + 1] if shard + 1 < len(boundaries) else end
        stop = min(stop, end)
        pieces.append((shard, tokens[pos - start:stop - start]))
        pos = stop
    return pieces


def _partition_id() -> int:
    from pyspark import TaskContext

    return TaskContext.get().partitionId()


def _assign_step(offsets: dict[int, int], boundaries: list[int]):  # type: ignore[no-untyped-def]
    """Each sentence's shard and global offset (numpy over the batch); only the at most
    ``N - 1`` sentences that straddle a boundary are cut, in Python."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pos = offsets.get(_partition_id(), 0)
        bounds = np.asarray(boundaries, dtype=np.int64)
        for batch in batches:
            tokens = batch.column("tokens")
            lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype(np.int64)
            ends = pos + np.cumsum(lengths)
            starts = ends - lengths
            first = np.searchsorted(bounds, starts, side="right") - 1
            last = np.searchsorted(bounds, np.maximum(ends - 1, starts), side="right") - 1
            whole = first == last
            yield pa.RecordBatch.from_arrays([pa.array(first[whole], pa.int32()), pa.array(starts[whole]),
                                              tokens.filter(pa.array(whole))], schema=_PIECES_SCHEMA)
            cut = np.flatnonzero(~whole)
            if len(cut):
                pieces = [(shard, int(start) + offset, part) for start, sentence in
                          zip(starts[cut], tokens.take(pa.array(cut)).to_pylist())
                          for shard, part, offset in _with_offsets(int(start), sentence, boundaries)]
                columns = [pa.array(col, t) for col, t in zip(zip(*pieces), _PIECES_SCHEMA.types)]
                yield pa.RecordBatch.from_arrays(columns, schema=_PIECES_SCHEMA)
            if len(ends):
                pos = int(ends[-1])

    return run


def _with_offsets(start: int, tokens: list[str], boundaries: list[int]) -> Iterator[tuple[int, list[str], int]]:
    offset = 0
    for shard, part in split_at_boundaries(start, tokens, boundaries):
        yield shard, part, offset
        offset += len(part)


def write_balanced_shards(sentences, n_shards: int,  # type: ignore[no-untyped-def]
                          staging: Path) -> list[dict[str, Any]]:
    """Write ``staging/shards/shard-NNNNN.parquet``; return each shard's file, sentences and tokens."""
    from pyspark.sql import functions as F

    tokens = sentences.select("tokens")
    sums = {r["partition"]: r["tokens"] for r in tokens.groupBy(F.spark_partition_id().alias("partition"))
            .agg(F.sum(F.size("tokens")).alias("tokens")).collect()}
    offsets, running = {}, 0
    for partition in sorted(sums):
        offsets[partition] = running
        running += sums[partition] or 0
    boundaries = shard_boundaries(running, n_shards)
    pieces = tokens.mapInArrow(_assign_step(offsets, boundaries), _PIECES_DDL)

    tmp = staging / "_shards_tmp"
    (pieces.repartition(n_shards, "shard").sortWithinPartitions("shard", "pos")
     .select("shard", "tokens").write.partitionBy("shard").parquet(str(tmp)))
    out = staging / "shards"
    out.mkdir()
    ends = boundaries[1:] + [running]
    shards = []
    for k in range(n_shards):
        name = f"shard-{k:05d}.parquet"
        folder = tmp / f"shard={k}"
        parts = sorted(folder.glob("*.parquet")) if folder.exists() else []
        if len(parts) > 1:
            raise RuntimeError(f"shard {k} was written as {len(parts)} files; expected one")
        if parts:
            os.replace(parts[0], out / name)
        else:
            pq.write_table(pa.table({"tokens": pa.array([], pa.list_(pa.string()))}, schema=SHARD_SCHEMA), out / name)
        sentences_in = pq.ParquetFile(out / name).metadata.num_rows
        shards.append({"file": name, "sentences": sentences_in, "tokens": ends[k] - boundaries[k]})
    shutil.rmtree(tmp)
    return shards


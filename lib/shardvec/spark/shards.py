"""Shards balanced by token count, deterministically and without a driver-side pass over data.

Sentences are ordered globally by ``(doc_id, sent_idx)``; each partition's
token total (one number per partition) gives every partition its starting
offset, so each sentence knows its global token range. Shard ``k`` takes the
tokens in ``[floor(k*T/N), floor((k+1)*T/N))``: a sentence that straddles a
boundary is cut there, so shard sizes differ by at most one token whatever
the input size. The same input and config always give the same shards.
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

_PIECES_DDL = "shard int, doc_id string, sent_idx int, piece int, tokens array<string>"
_PIECES_SCHEMA = pa.schema([("shard", pa.int32()), ("doc_id", pa.string()), ("sent_idx", pa.int32()),
                            ("piece", pa.int32()), ("tokens", pa.list_(pa.string()))])


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
    """Each sentence's shard from its global token offset (numpy over the batch); only the
    at most ``N - 1`` sentences that straddle a boundary are cut, in Python."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pos = offsets.get(_partition_id(), 0)
        bounds = np.asarray(boundaries, dtype=np.int64)
        for batch in batches:
            lengths = pc.list_value_length(batch.column("tokens")).to_numpy(zero_copy_only=False).astype(np.int64)
            ends = pos + np.cumsum(lengths)
            starts = ends - lengths
            first = np.searchsorted(bounds, starts, side="right") - 1
            last = np.searchsorted(bounds, np.maximum(ends - 1, starts), side="right") - 1
            whole = first == last
            yield pa.RecordBatch.from_arrays(
                [pa.array(first[whole], pa.int32()), batch.column("doc_id").filter(whole),
                 batch.column("sent_idx").filter(whole), pa.array(np.zeros(int(whole.sum()), np.int32)),
                 batch.column("tokens").filter(whole)], schema=_PIECES_SCHEMA)
            cut = np.flatnonzero(~whole)
            if len(cut):
                rows = batch.take(pa.array(cut)).to_pylist()
                pieces = [(shard, row["doc_id"], row["sent_idx"], i, part) for row, start in zip(rows, starts[cut])
                          for i, (shard, part) in enumerate(split_at_boundaries(int(start), row["tokens"], boundaries))]
                yield pa.RecordBatch.from_arrays([pa.array(col, t) for col, t in zip(zip(*pieces), _PIECES_SCHEMA.types)],
                                                 schema=_PIECES_SCHEMA)
            pos = int(ends[-1]) if len(ends) else pos

    return run


def write_balanced_shards(sentences, n_shards: int, staging: Path) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Write ``staging/shards/shard-NNNNN.parquet``; return each shard's file, sentences and tokens."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    ordered = (sentences.select("doc_id", "sent_idx", "tokens").orderBy("doc_id", "sent_idx")
               .persist(StorageLevel.MEMORY_AND_DISK))
    sums = {r["partition"]: r["tokens"] for r in ordered.groupBy(F.spark_partition_id().alias("partition"))
            .agg(F.sum(F.size("tokens")).alias("tokens")).collect()}
    offsets, running = {}, 0
    for partition in sorted(sums):
        offsets[partition] = running
        running += sums[partition]
    boundaries = shard_boundaries(running, n_shards)
    pieces = ordered.mapInArrow(_assign_step(offsets, boundaries), _PIECES_DDL)

    tmp = staging / "_shards_tmp"
    (pieces.repartition(n_shards, "shard").sortWithinPartitions("shard", "doc_id", "sent_idx", "piece")
     .select("shard", "tokens").write.partitionBy("shard").parquet(str(tmp)))
    ordered.unpersist()
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


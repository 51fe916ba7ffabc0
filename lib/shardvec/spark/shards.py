"""Shards balanced by token count, deterministically and without a driver-side pass over data.

The sentences' global order is their partitions' order, then their order
within a partition (both fixed by the input files, the config and Spark's
parallelism: see :mod:`shardvec.spark.prepare_job`); each sentence row
carries ``pos``, its first token's offset within its partition. Each
partition's token total (one number per partition reaches the driver) gives
every partition its starting offset, so each sentence knows its global token
range without a global sort. Shard ``k`` takes the tokens in
``[floor(k*T/N), floor((k+1)*T/N))``: a sentence that straddles a boundary
is cut there, so shard sizes differ by at most one token whatever the input
size. The cut is Spark SQL (the same arithmetic as :func:`split_at_boundaries`,
which the single-process pipeline uses); one shuffle groups the pieces by
shard, and within a shard they keep the global order.
"""

from __future__ import annotations

import bisect
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from shardvec.corpus import SHARD_SCHEMA



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


def _pieces(sentences, offsets: dict[int, int], total: int, n_shards: int):  # type: ignore[no-untyped-def]
    """(shard, pos, tokens) rows: each sentence, or its pieces where it straddles shard boundaries.

    Integer SQL arithmetic (``div``), so offsets stay exact at any corpus size.
    """
    t, n = f"{total}L", f"{n_shards}L"
    mapping = ", ".join(f"{partition}, {offset}L" for partition, offset in sorted(offsets.items()))
    placed = sentences.selectExpr("tokens", f"element_at(map({mapping}), spark_partition_id()) + pos AS start")
    placed = placed.selectExpr("tokens", "start", "start + size(tokens) AS end")

    def shard_of(token: str) -> str:  # the largest k with floor(k*T/N) <= token
        return f"least((({token} + 1) * {n} + {t} - 1) div {t}, {n}) - 1"

    placed = placed.selectExpr("tokens", "start", "end", f"explode(sequence({shard_of('start')}, "
                               f"{shard_of('end - 1')})) AS shard")
    placed = placed.selectExpr("tokens", "start", "shard", f"greatest(start, shard * {t} div {n}) AS lo",
                               f"least(end, (shard + 1) * {t} div {n}) AS hi")
    return placed.selectExpr("CAST(shard AS INT) AS shard", "lo AS pos",
                             "slice(tokens, CAST(lo - start + 1 AS INT), CAST(hi - lo AS INT)) AS tokens")


def write_balanced_shards(sentences, n_shards: int,  # type: ignore[no-untyped-def]
                          staging: Path) -> list[dict[str, Any]]:
    """Write ``staging/shards/shard-NNNNN.parquet``; return each shard's file, sentences and tokens."""
    from pyspark.sql import functions as F

    sums = {r["partition"]: r["tokens"] for r in sentences.groupBy(F.spark_partition_id().alias("partition"))
            .agg(F.sum(F.size("tokens")).alias("tokens")).collect()}
    offsets, running = {}, 0
    for partition in sorted(sums):
        offsets[partition] = running
        running += sums[partition] or 0
    boundaries = shard_boundaries(running, n_shards)
    pieces = _pieces(sentences, offsets, running, n_shards) if running else sentences.selectExpr(
        "0 AS shard", "0L AS pos", "tokens")

    tmp = staging / "_shards_tmp"
    (pieces.repartition(n_shards, "shard").sortWithinPartitions("shard", "pos")
     .select("shard", "tokens").write.partitionBy("shard").parquet(tmp.resolve().as_uri()))
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


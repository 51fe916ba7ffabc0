"""Shards dealt out of the spilled part files a few sentences at a time, balanced by token count.

The sentences' global order is the order of the Spark partitions that
produced them, then their order within a partition (both fixed by the input
files, the config and Spark's parallelism: see
:mod:`shardvec.spark.prepare_job`). Each partition's part file
(:func:`shardvec.spark.records.spill_step`) reports its token count, which
gives every part its global token offset.

The token stream is cut into blocks of :data:`BLOCK_TOKENS` tokens, every
run of ``N`` consecutive blocks gives one block to each of the ``N`` shards
(:func:`shard_of`), and a shard takes the sentences that start in its
blocks: the corpus is dealt out a paragraph at a time, like cards, and no
sentence is cut. Why deal rather than give each shard one contiguous range:
corpora come in long runs of one source (a dictionary, then manuals, then web
pages), and a shard made of one source trains at its own speed (sentence
length sets the work per token) and learns a lopsided model. Why such small
blocks: shard trainers that merge every round learn most when in a round
they all read the same stretch of the corpus, so that their updates agree;
with blocks of 130k tokens (the previous layout) two shards read different
documents in a round, and like-for-like WordSim353 lost 0.02 against
sentences dealt one by one; 256-token blocks won back 0.013 of it
(``docs/scaling.md``). Shard sizes differ by
where sentences happen to start, a few hundred tokens in millions. One Spark
task per shard streams every part file memory-mapped and copies only its own
sentences; no token passes through the JVM.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shardvec.corpus import SHARD_SCHEMA
from shardvec.spark.worker import start_task


class PartWriter:
    """Writes one task's sentences as a part file: an Arrow IPC file, one record batch per batch written.

    Why Arrow IPC and not Parquet: a part file lives only until the shards are
    cut from it; written as the columns already are, it costs about a tenth
    of writing Parquet (0.017 s against 0.16 s for the sentences of 20 MB of
    text), and read back memory-mapped it needs no decoding. A shard task
    reads only the batches its token ranges overlap.
    """

    def __init__(self, path: str) -> None:
        self._writer = pa.ipc.new_file(path, SHARD_SCHEMA)
        self.sentences = self.tokens = 0

    def write(self, sentences: pa.ListArray) -> None:
        self._writer.write_batch(pa.record_batch([sentences], schema=SHARD_SCHEMA))
        self.tokens += _tokens(sentences)
        self.sentences += len(sentences)

    def close(self) -> None:
        self._writer.close()


def _tokens(sentences: pa.ListArray) -> int:
    """The tokens of a (possibly sliced) list column, from its offsets."""
    return sentences.offsets[-1].as_py() - sentences.offsets[0].as_py() if len(sentences) else 0


@dataclass(frozen=True)
class Part:
    """One task's spilled sentences: the file, and the global offset of its first token."""

    path: str
    start: int
    tokens: int


BLOCK_TOKENS = 256
MIN_BLOCKS_PER_SHARD = 64
ROW_GROUP_SENTENCES = 1 << 16


def block_size(total: int, n_shards: int) -> int:
    """Tokens per block: :data:`BLOCK_TOKENS`, fewer when the corpus is too small to give every shard
    :data:`MIN_BLOCKS_PER_SHARD` blocks (a test corpus of a few thousand tokens still deals evenly)."""
    return max(1, min(BLOCK_TOKENS, total // (n_shards * MIN_BLOCKS_PER_SHARD)))


def place_parts(parts: list[tuple[int, str, int]]) -> tuple[list[Part], int]:
    """(partition, path, tokens) rows -> parts in partition order with global offsets, and the total."""
    placed, running = [], 0
    for _, path, tokens in sorted(parts):
        placed.append(Part(path, running, tokens))
        running += tokens
    return placed, running


def shard_of(blocks: np.ndarray, n_shards: int) -> np.ndarray:
    """The shard of each block: every run of ``n_shards`` consecutive blocks gives one to each shard,
    in turns shifted by a hash of the run's number.

    Why not plainly ``block % n_shards``: a long run of sentences of one
    length (a table's rows, text cut at the longest sentence) would start
    in blocks that are all the same modulo ``n_shards`` whenever that length
    is a multiple of the block, and all go to one shard; the shift breaks
    any such period and keeps every run of blocks shared out exactly.
    """
    return (blocks + _shift(blocks // n_shards, n_shards)) % n_shards


def _shift(runs: np.ndarray, n_shards: int) -> np.ndarray:
    """How far :func:`shard_of` turns each run of ``n_shards`` blocks (a hash of the run's number)."""
    wrapped = (runs.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(33)  # wraps: a hash
    return (wrapped % np.uint64(n_shards)).astype(np.int64)


def deal(batch: pa.ListArray, start: int, block: int, n_shards: int, shard: int) -> pa.ChunkedArray:
    """The sentences of ``batch`` (first token at global offset ``start``) that go to ``shard``: those
    whose first token lies in one of its blocks (:func:`shard_of` of ``offset // block``), as slices of
    ``batch``, one per block.

    Why not test every sentence: each shard's task reads every part batch,
    so a test per sentence costs every sentence once per shard. A run of
    ``n_shards`` blocks holds exactly one of the shard's (:func:`shard_of`
    inverted), and the sentences starting in it are found by bisecting the
    offsets: per batch, work in the shard's blocks, not in all sentences.
    Why slices: a block's sentences are consecutive, so nothing is copied
    here, and the row group that gathers them copies each block's bytes
    whole; a ``take`` of the chosen sentences built an index per token and
    cost twice as much (``bench/RESULTS.md``).
    """
    if not len(batch):
        return pa.chunked_array([], batch.type)
    firsts = np.asarray(batch.offsets)[:-1]  # each sentence's first token, local (the int32 buffer itself)
    local = int(firsts[0]) - start  # global offset + local = local offset
    runs = np.arange(start // block // n_shards, (start + int(firsts[-1] - firsts[0])) // block // n_shards + 1)
    blocks = runs * n_shards + (shard - _shift(runs, n_shards)) % n_shards
    bounds = np.clip(np.stack([blocks * block, (blocks + 1) * block]) + local, 0, np.iinfo(np.int32).max)
    begin, end = np.searchsorted(firsts, bounds.astype(firsts.dtype))
    held = end > begin
    return pa.chunked_array([batch.slice(first, stop - first)
                             for first, stop in zip(begin[held].tolist(), end[held].tolist())], batch.type)


def shard_sentences(parts: list[Part], block: int, n_shards: int, shard: int) -> Iterator[pa.ChunkedArray]:
    """The sentences of ``shard``, batch by batch, in the corpus's global order."""
    for part in parts:
        with pa.memory_map(part.path) as source:
            file = pa.ipc.open_file(source)
            start = part.start
            for group in range(file.num_record_batches):
                column = file.get_batch(group).column(0)  # memory-mapped: only the sentences dealt are copied
                yield deal(column, start, block, n_shards, shard)
                start += _tokens(column)


def write_shard(parts: list[Part], block: int, n_shards: int, shard: int, path: str) -> dict[str, Any]:
    """Write one shard file in row groups of about :data:`ROW_GROUP_SENTENCES`; return its sentence and
    token counts.

    Why gather pieces: each part batch gives a shard only ``1 / n_shards``
    of its sentences, and a row group per piece would leave a shard of many
    shards made of thousands of tiny row groups, slow for every reader. Why
    no column statistics: the min and max token of a row group serve no
    reader (nothing filters sentences by them), and computing them took 15 %
    of the write (``bench/RESULTS.md``, "Prepare: shards without statistics").
    """
    sentences = tokens = written = 0
    pending: list[pa.ListArray] = []
    with pq.ParquetWriter(path, SHARD_SCHEMA, write_statistics=False) as writer:
        for piece in shard_sentences(parts, block, n_shards, shard):
            pending += piece.chunks
            sentences += len(piece)
            if sentences - written >= ROW_GROUP_SENTENCES:
                tokens += _write_row_group(writer, pending)
                pending, written = [], sentences
        if sentences > written:
            tokens += _write_row_group(writer, pending)
    return {"file": os.path.basename(path), "sentences": sentences, "tokens": tokens}


def _write_row_group(writer: pq.ParquetWriter, pieces: list[pa.ListArray]) -> int:
    """Write ``pieces`` as one row group (the one copy of the sentences dealt); return their tokens."""
    column = pa.concat_arrays(pieces)
    writer.write_batch(pa.record_batch([column], schema=SHARD_SCHEMA))
    return _tokens(column)


def write_balanced_shards(spark, parts: list[Part], block: int, n_shards: int,  # type: ignore[no-untyped-def]
                          staging: Path) -> tuple[list[dict[str, Any]], float]:
    """Write ``staging/shards/shard-NNNNN.parquet`` with one Spark task per shard, dealing ``block`` tokens
    at a time; return each shard's counts and the CPU seconds the tasks took in all."""
    out = staging / "shards"
    out.mkdir()
    # One task per shard: range puts row k alone in partition k. A mapInArrow task, as the steps before are, so
    # that it runs in the Python workers they started: a Python RDD's tasks start a pool of workers of their own.
    rows = (spark.range(n_shards, numPartitions=n_shards)
            .mapInArrow(_write_step(parts, block, n_shards, str(out.resolve())), _WRITTEN_DDL).collect())
    return ([{"file": r["file"], "sentences": r["sentences"], "tokens": r["tokens"]} for r in rows],
            sum(r["seconds"] for r in rows))


_WRITTEN = pa.schema([("file", pa.string()), ("sentences", pa.int64()), ("tokens", pa.int64()),
                      ("seconds", pa.float64())])
_WRITTEN_DDL = "file string, sentences long, tokens long, seconds double"


def _write_step(parts: list[Part], block: int, n_shards: int,
                folder: str) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Batches of shard numbers (``id``) -> a row per shard written: its counts and the CPU seconds it took."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        start_task()
        for batch in batches:
            for shard in batch.column("id").to_pylist():
                started = time.process_time()
                written = write_shard(parts, block, n_shards, shard, os.path.join(folder, f"shard-{shard:05d}.parquet"))
                yield pa.RecordBatch.from_pylist([{**written, "seconds": time.process_time() - started}],
                                                 schema=_WRITTEN)

    return run

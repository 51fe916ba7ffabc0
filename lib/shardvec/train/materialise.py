"""A corpus shard turned into the plain line-sentence files one shard trainer reads.

gensim trains fastest with ``corpus_file=``, its multi-threaded Cython reader,
instead of pulling sentences through Python; so each trainer converts its shard
once, into one file per round of an epoch, and trains on those every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shardvec.corpus import Vocab
from shardvec.storage import Store


@dataclass(frozen=True)
class ShardChunks:
    """A shard materialised as line-sentence files for ``corpus_file`` training."""

    files: list[Path]
    words: list[int]  # raw tokens per file, as gensim's total_words wants
    word_counts: np.ndarray  # occurrences of each vocabulary word in this shard


def materialise_shard(shard: Store, vocab: Vocab, n_chunks: int, workdir: Path) -> ShardChunks:
    """Write the shard as ``n_chunks`` text files of about equal token count.

    Sentences go to chunks in contiguous runs so each file is read
    sequentially; out-of-vocabulary words are kept (gensim skips them, and the
    raw count drives its learning-rate decay as in a single-machine run).
    Everything is done on whole Arrow columns, never in a Python loop per token.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    with shard.open() as fh:
        tokens = pq.read_table(fh, columns=["tokens"]).column("tokens").combine_chunks()
    lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype(np.int64)
    total = int(lengths.sum()) or 1
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    chunk_of = np.minimum(n_chunks - 1, starts * n_chunks // total)
    lines = pc.binary_join(tokens, " ")
    files = [workdir / f"chunk-{c:03d}.txt" for c in range(n_chunks)]
    words = []
    for c, path in enumerate(files):
        rows = np.flatnonzero(chunk_of == c)
        words.append(int(lengths[rows].sum()))
        text = "\n".join(lines.take(pa.array(rows)).to_pylist()) if len(rows) else ""
        path.write_text(text + "\n" if text else "", encoding="utf-8")
    flat = pc.list_flatten(tokens)
    ids = pc.index_in(flat, value_set=pa.array(vocab.words, pa.string()))
    known = ids.drop_null().to_numpy(zero_copy_only=False)
    counts = np.bincount(known, minlength=len(vocab)).astype(np.int64)
    return ShardChunks(files, words, counts)

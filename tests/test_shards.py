"""Dealing the corpus's sentences out to shards (no Spark): who gets which sentence, in what order, how even."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shardvec.spark import shards
from shardvec.spark.shards import PartWriter, block_size, deal, place_parts, shard_of, shard_sentences, write_shard

SENTENCES = pa.list_(pa.string())


def spill(tmp_path: Path, rows: dict[int, list[list[str]]], batch: int = 1) -> tuple[list[shards.Part], int]:
    """Part files of ``{partition: sentences}``, ``batch`` sentences a batch, placed in partition order."""
    found = []
    for partition, sentences in rows.items():
        path = str(tmp_path / f"part-{partition}.arrow")
        writer = PartWriter(path)
        for i in range(0, len(sentences), batch):
            writer.write(pa.array(sentences[i:i + batch], SENTENCES))
        writer.close()
        assert writer.tokens == sum(map(len, sentences)) and writer.sentences == len(sentences)
        found.append((partition, path, writer.tokens))
    return place_parts(found)


def test_a_sentence_goes_to_the_shard_of_the_block_it_starts_in() -> None:
    batch = pa.array([["a", "b"], ["c", "d", "e", "f", "g"], ["h", "i", "j"]], SENTENCES)  # starts 0, 2, 7
    # Blocks of 3 tokens, 3 shards: the sentences start in blocks 0, 0 and 2.
    assert [deal(batch, 0, 3, 3, k).to_pylist() for k in range(3)] == [
        [["a", "b"], ["c", "d", "e", "f", "g"]], [], [["h", "i", "j"]]]
    # The same batch 4 tokens further on: starts 4, 6, 11, blocks 1, 2, 3; block 3 opens the second run of
    # three blocks, whose turn is shifted by one (shard_of: 0, 1, 2, then 1, 2, 0).
    assert shard_of(np.arange(6), 3).tolist() == [0, 1, 2, 1, 2, 0]
    assert [deal(batch, 4, 3, 3, k).to_pylist() for k in range(3)] == [
        [], [["a", "b"], ["h", "i", "j"]], [["c", "d", "e", "f", "g"]]]
    assert deal(batch.slice(1), 2, 3, 3, 0).to_pylist() == [["c", "d", "e", "f", "g"]]  # a sliced batch


@pytest.mark.parametrize("n_shards", [1, 2, 3, 7, 64])
def test_every_run_of_blocks_gives_one_to_each_shard(n_shards: int) -> None:
    runs = shard_of(np.arange(1000 * n_shards), n_shards).reshape(1000, n_shards)
    assert (np.sort(runs, axis=1) == np.arange(n_shards)).all()
    assert len({tuple(r) for r in runs}) == n_shards  # every turn occurs: no period survives


def test_a_run_of_sentences_of_a_block_multiple_is_still_shared_out(tmp_path: Path) -> None:
    # Sentences of 8 tokens in blocks of 4 start in every other block: block % 2 would give them all to shard 0.
    parts, _ = spill(tmp_path, {0: [[f"w{i}"] * 8 for i in range(2000)]}, batch=500)
    sizes = [sum(len(piece) for piece in shard_sentences(parts, 4, 2, k)) for k in range(2)]
    assert sum(sizes) == 2000 and min(sizes) >= 950, sizes


def test_blocks_shrink_only_for_corpora_too_small_to_deal_evenly() -> None:
    assert block_size(10 ** 9, 128) == shards.BLOCK_TOKENS
    assert block_size(1000, 4) == 1000 // (4 * shards.MIN_BLOCKS_PER_SHARD)
    assert block_size(10, 4) == 1


def test_shards_partition_the_corpus_in_its_global_order(tmp_path: Path) -> None:
    rows = {1: [["d", "e"], ["f"]], 0: [["a", "b", "c"]], 2: [["g", "h", "i", "j"], ["k"]]}
    parts, total = spill(tmp_path, rows)
    assert total == 11 and [p.start for p in parts] == [0, 3, 6]
    # Starts 0, 3, 5, 6, 10 in blocks of 2 tokens: blocks 0, 1, 2, 3, 5, of shards 0, 1, 0, 1, 0.
    assert shard_of(np.arange(6), 2).tolist() == [0, 1, 0, 1, 1, 0]
    dealt = [[s for piece in shard_sentences(parts, 2, 2, k) for s in piece.to_pylist()] for k in range(2)]
    assert dealt == [[["a", "b", "c"], ["f"], ["k"]], [["d", "e"], ["g", "h", "i", "j"]]]
    whole = [s for piece in shard_sentences(parts, 2, 1, 0) for s in piece.to_pylist()]
    assert whole == [s for k in sorted(rows) for s in rows[k]]


def test_a_shard_gathers_its_pieces_into_large_row_groups(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    sentences = [[f"w{i}", "x"] for i in range(40)]
    parts, _ = spill(tmp_path, {0: sentences[:25], 1: sentences[25:]})  # 40 batches of one sentence
    monkeypatch.setattr(shards, "ROW_GROUP_SENTENCES", 8)
    counts = write_shard(parts, 2, 2, 0, str(tmp_path / "shard.parquet"))
    file = pq.ParquetFile(tmp_path / "shard.parquet")
    assert counts == {"file": "shard.parquet", "sentences": 20, "tokens": 40}
    assert [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)] == [8, 8, 4]
    mine = shard_of(np.arange(40), 2) == 0  # sentence i starts in block i
    assert file.read().column("tokens").to_pylist() == [s for s, m in zip(sentences, mine) if m]


def test_runs_of_short_and_long_sentences_are_dealt_evenly(tmp_path: Path) -> None:
    # Runs of one kind per part file, as corpora come: a dictionary's short lines, then long prose.
    rows = {p: [["s"] * 3] * 3_000 if p % 2 else [["l"] * 40] * 250 for p in range(8)}
    parts, total = spill(tmp_path, rows, batch=128)
    n_shards = 4
    block = block_size(total, n_shards)
    sizes, kinds = [], []
    for k in range(n_shards):
        got = [s for piece in shard_sentences(parts, block, n_shards, k) for s in piece.to_pylist()]
        sizes.append(sum(map(len, got)))
        kinds.append({s[0][0] for s in got})
    assert sum(sizes) == total and kinds == [{"s", "l"}] * n_shards
    # A block's sentences hold its 256 tokens give or take one sentence (40 tokens here); a shard's 74 blocks
    # add such differences up like a random walk: a few hundred tokens.
    assert block == shards.BLOCK_TOKENS and max(sizes) - min(sizes) <= 0.03 * total / n_shards, sizes

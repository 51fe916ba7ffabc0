"""What the per-line rows and the dealing of shards cost in the Python workers, outside Spark.

    flock /tmp/shardvec-bench.lock .venv/bin/python bench/prepare_rows.py [--mb 100] [--rounds 3]

Not run by the tests. Two comparisons, CPU seconds of this process (a busy
machine slows but does not inflate them), alternated round by round:

* **line ids**: ``read_step -> clean_step -> tokenize_step -> tally_step``
  (the fused pass of the plain-text path, less spilling) over the prepare
  bench's input (``bench/prepare_bench.py``'s pick, in two tasks' halves),
  with each line carrying its path and record id (``line_ids=True``, what
  the lineage, dedup and the spread need) and carrying only its file's
  number (``False``, the default path since). The two tallies must agree.
* **deal**: one part batch of 65,536 sentences (1 to 19 tokens, 655k tokens)
  dealt to every shard of 2, 16 and 128 by ``shards.deal`` (its slices
  copied together, as a row group copies them) and by testing every
  sentence's block (how ``deal`` worked before), same sentences.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prepare_bench import pick_inputs  # noqa: E402
from shardvec.readers import ReaderSettings  # noqa: E402
from shardvec.spark.records import chain, clean_step, read_step, tally_step, tokenize_step  # noqa: E402
from shardvec.spark.shards import deal, shard_of  # noqa: E402
from shardvec.text.clean import CleanSettings  # noqa: E402
from shardvec.text.tokenize import TokenizerSettings  # noqa: E402


def cpu(run: Callable[[], object]) -> tuple[float, object]:
    started = time.process_time()
    result = run()
    return time.process_time() - started, result


def tallied(tasks: list[pa.RecordBatch], line_ids: bool) -> list[tuple]:
    """The tally rows of the fused pass over each task's files."""
    rows = []
    for task in tasks:
        steps = chain(read_step(ReaderSettings(format="text"), line_ids), clean_step(CleanSettings(), False),
                      tokenize_step(TokenizerSettings()), tally_step())
        for batch in steps(iter([task])):  # the tally's sums; the sentences pass through untouched
            sums = batch.filter(pc.is_in(batch.column("kind"), pa.array(["doc", "drop"])))
            rows += [(r["kind"], r["source"], r["reason"], r["count"]) for r in sums.to_pylist()]
    return sorted(rows)


def dealt(batch: pa.ListArray, start: int, block: int, n_shards: int, shard: int) -> pa.ListArray:
    """``deal``'s slices copied together, as a shard's row group copies them (``shards._write_row_group``)."""
    return deal(batch, start, block, n_shards, shard).combine_chunks()


def every_sentence(batch: pa.ListArray, start: int, block: int, n_shards: int, shard: int) -> pa.ListArray:
    """``deal`` as it was: every sentence's block tested."""
    offsets = np.asarray(batch.offsets, dtype=np.int64)
    return batch.filter(pa.array(shard_of((offsets[:-1] - offsets[0] + start) // block, n_shards) == shard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    files = [str(f) for f in pick_inputs(args.mb)]
    tasks = [pa.record_batch({"path": files[:len(files) // 2]}), pa.record_batch({"path": files[len(files) // 2:]})]
    tallied(tasks, False)  # warm the caches (character classes, imports)
    print(f"line ids: {len(files)} files, {args.mb:g} MB, read -> clean -> tokenize -> tally, CPU seconds")
    for r in range(args.rounds):
        (with_ids, a), (numbered, b) = cpu(lambda: tallied(tasks, True)), cpu(lambda: tallied(tasks, False))
        assert a == b, "the tallies differ"
        print(f"  round {r + 1}: path and id per line {with_ids:.2f}, file number per line {numbered:.2f}", flush=True)

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 20, 65536)
    words = pa.array(rng.integers(0, 50000, int(lengths.sum())).astype(str))
    batch = pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)), words)
    print(f"deal: one batch of {len(batch):,} sentences ({len(words):,} tokens) to every shard, CPU ms per batch")
    for n_shards in (2, 16, 128):
        assert all(dealt(batch, 7, 256, n_shards, k).equals(every_sentence(batch, 7, 256, n_shards, k))
                   for k in range(n_shards)), "the deals differ"
        for r in range(args.rounds):
            times = {}
            for name, how in (("every sentence tested", every_sentence), ("bisected", dealt)):
                seconds, _ = cpu(lambda: [how(batch, 1000003 * r, 256, n_shards, k) for k in range(n_shards)])
                times[name] = seconds * 1e3
            print(f"  {n_shards} shards, round {r + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()),
                  flush=True)


if __name__ == "__main__":
    main()

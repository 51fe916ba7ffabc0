"""What the shard writer's Parquet options cost: one corpus's sentences written under each, CPU seconds and size.

    flock /tmp/shardvec-bench.lock .venv/bin/python bench/shard_write.py CORPUS [--rounds 3]

CORPUS is a prepared corpus directory (its ``shards/`` are read into memory
once). Each round writes every option once, in row groups of the shard
writer's size, to a temporary file; the CPU seconds of this process are
printed per round, so a busy machine slows but does not inflate them.
Writes nothing else.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from shardvec.corpus import SHARD_SCHEMA
from shardvec.spark.shards import ROW_GROUP_SENTENCES

OPTIONS = {"defaults": {}, "write_statistics=False": {"write_statistics": False},
           "use_dictionary=False": {"use_dictionary": False}, "compression=none": {"compression": "none"},
           "compression=zstd(1)": {"compression": "zstd", "compression_level": 1},
           "zstd(1), no statistics": {"compression": "zstd", "compression_level": 1, "write_statistics": False}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    table = pa.concat_tables(pq.read_table(p) for p in sorted((args.corpus / "shards").glob("*.parquet")))
    batches = table.combine_chunks().to_batches(max_chunksize=ROW_GROUP_SENTENCES)
    print(f"{table.num_rows:,} sentences, {pa.compute.sum(pa.compute.list_value_length(table['tokens'])).as_py():,} "
          f"tokens; CPU seconds per round, then MB written", file=sys.stderr)
    seconds: dict[str, list[float]] = {name: [] for name in OPTIONS}
    size: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "shard.parquet")
        for _ in range(args.rounds):
            for name, options in OPTIONS.items():
                started = time.process_time()
                with pq.ParquetWriter(path, SHARD_SCHEMA, **options) as writer:
                    for batch in batches:
                        writer.write_batch(batch)
                seconds[name].append(time.process_time() - started)
                size[name] = os.path.getsize(path)
    print("| options | CPU seconds, each round | MB |\n|---|---|---|")
    for name in OPTIONS:
        print(f"| {name} | {' / '.join(f'{s:.2f}' for s in seconds[name])} | {size[name] / 1e6:.1f} |")


if __name__ == "__main__":
    main()

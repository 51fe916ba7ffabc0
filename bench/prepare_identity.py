"""Is the corpus the same token for token? ``shardvec prepare`` with two checkouts' ``lib`` on the same input.

Not run by the tests. Runs prepare once with ``--baseline``'s library and
once with this checkout's (each in its own process, Spark ``local[2]``), on
the prepare benchmark's input (``--mb`` of real text, as
``bench/prepare_bench.py`` picks it) or on ``--input``, then compares:
every shard's sentences, ``vocab.tsv``, and the manifest without what may
differ between two runs of the same code (timings, rates, the output path,
versions), and the lineage tables if written. Prints one line per difference and exits 1 if there is any.

    git archive main lib | (mkdir -p /tmp/base && tar -x -C /tmp/base)
    flock /tmp/shardvec-bench.lock .venv/bin/python bench/prepare_identity.py --baseline /tmp/base/lib [--mb 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

# Manifest keys that differ between two runs of the same code on the same input.
RUN_KEYS = ("timings", "throughput", "seconds", "config", "versions", "created")


def prepare(lib: str, inputs: list[str], out: Path, settings: list[str]) -> None:
    env = dict(os.environ, PYTHONPATH=lib)
    args = [sys.executable, "-m", "shardvec.cli", "prepare", "--input", *inputs, "--output", str(out),
            "--master", "local[2]", *settings]
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)


def shard_rows(corpus: Path) -> list[list[list[str]]]:
    import pyarrow.parquet as pq

    return [pq.read_table(p).column("tokens").to_pylist() for p in sorted((corpus / "shards").glob("*.parquet"))]


def lineage(corpus: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return [row for p in sorted((corpus / "lineage").glob("*.parquet")) for row in pq.read_table(p).to_pylist()]


def comparable(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k not in RUN_KEYS}


def differences(a: Path, b: Path) -> list[str]:
    found = []
    sa, sb = shard_rows(a), shard_rows(b)
    if len(sa) != len(sb):
        found.append(f"shard count {len(sa)} != {len(sb)}")
    for k, (x, y) in enumerate(zip(sa, sb)):
        if x != y:
            first = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
            found.append(f"shard {k}: {len(x)} vs {len(y)} sentences, first difference at sentence {first}: "
                         f"{x[first][:12] if first < len(x) else None} vs {y[first][:12] if first < len(y) else None}")
    if (a / "vocab.tsv").read_bytes() != (b / "vocab.tsv").read_bytes():
        found.append("vocab.tsv differs")
    if lineage(a) != lineage(b):
        found.append("lineage differs")
    ma, mb = (comparable(json.loads((d / "manifest.json").read_text())) for d in (a, b))
    for key in sorted(set(ma) | set(mb)):
        if ma.get(key) != mb.get(key):
            found.append(f"manifest {key}: {json.dumps(ma.get(key))[:300]} != {json.dumps(mb.get(key))[:300]}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="the other checkout's lib/")
    parser.add_argument("--mb", type=float, default=100.0, help="MB of the prepare benchmark's input (default 100)")
    parser.add_argument("--input", nargs="*", help="prepare these instead")
    parser.add_argument("--settings", nargs=argparse.REMAINDER, default=[],
                        help="further prepare arguments, the same for both runs (last on the line)")
    args = parser.parse_args()
    import prepare_bench

    with tempfile.TemporaryDirectory(prefix="prepare-identity-") as tmp:
        root = Path(tmp)
        inputs = args.input or [str(prepare_bench.link_dir(prepare_bench.pick_inputs(args.mb), root))]
        prepare(args.baseline, inputs, root / "baseline", args.settings)
        prepare(str(BENCH.parent / "lib"), inputs, root / "this", args.settings)
        found = differences(root / "baseline", root / "this")
        tokens = json.loads((root / "this" / "manifest.json").read_text())["tokens"]
    label = " ".join(args.input or [f"--mb {args.mb:g}"]) + (" " + " ".join(args.settings) if args.settings else "")
    if found:
        print(f"prepare {label}: {len(found)} difference(s)")
        print("\n".join(found))
        sys.exit(1)
    print(f"prepare {label}: identical ({tokens:,} tokens; shards, vocab.tsv and manifest)")


if __name__ == "__main__":
    main()

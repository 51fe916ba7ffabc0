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
    flock /tmp/shardvec-bench.lock .venv/bin/python bench/prepare_identity.py --baseline /tmp/base/lib --tricky \
        --settings --mask-pii email ip phone --languages en --quality --dedup exact near lines --fold-numbers
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


def lineage(corpus: Path) -> list[list[dict[str, Any]]]:
    """Each lineage file's rows."""
    import pyarrow.parquet as pq

    return [pq.read_table(p).to_pylist() for p in sorted((corpus / "lineage").glob("*.parquet"))]


def same_rows(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Whether two lists hold the same rows, whatever their order."""
    return sorted(json.dumps(r, sort_keys=True) for r in a) == sorted(json.dumps(r, sort_keys=True) for r in b)


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
    la, lb = lineage(a), lineage(b)
    if la != lb:
        # A task's lineage rows follow its read batches (kept lines, then dropped ones, per batch): a change
        # of batch size reorders them within a file. Said apart from a change of content.
        reordered = len(la) == len(lb) and all(same_rows(x, y) for x, y in zip(la, lb))
        found.append("lineage: each file holds the same rows, in another order" if reordered else "lineage differs")
    ma, mb = (comparable(json.loads((d / "manifest.json").read_text())) for d in (a, b))
    for key in sorted(set(ma) | set(mb)):
        if ma.get(key) != mb.get(key):
            found.append(f"manifest {key}: {json.dumps(ma.get(key))[:300]} != {json.dumps(mb.get(key))[:300]}")
    return found


# What the tricky input's random lines are made of: scripts, case oddities, controls and odd spaces,
# mojibake, PII, placeholders, sentence ends, joiners.
_PIECES = ["Hello", "world", "état", "ΟΔΟΣ", "İstanbul", "naïve", "don't", "state-of-the-art", "🐍", "e-mail",
           "a@b.org", "10.0.0.1", "+44 20 7946 0958", "1984", "٣٤٥", "\t", "  ", "\x0b", "\x1c", "\r", "\u00a0",
           "\u200b", "ﬁne", "ｗｏｒｄ", "doesnâ€™t", ".", "!", "?", "”", "—", "x²", "<email>", "<b>", "&amp;",
           "_", "-"]


def tricky_inputs(root: Path) -> list[str]:
    """Text that takes every path of reading, cleaning and tokenizing: 30,000 random lines of
    :data:`_PIECES`, its ASCII lines alone, the text with invalid UTF-8, a truncated gzip of it, and one
    WARC file of the benchmark's HTML pages."""
    import gzip
    import random
    import shutil

    import realtext

    rng = random.Random(3)
    lines = [" ".join(rng.choice(_PIECES) for _ in range(rng.randrange(0, 25))) for _ in range(30000)]
    text = "\n".join(lines) + "\n"
    root.mkdir()
    (root / "mixed.txt").write_text(text, encoding="utf-8")
    (root / "ascii.txt").write_text("\n".join(line for line in lines if line.isascii()))
    (root / "invalid.txt").write_bytes(text.encode()[:200000] + b"\xff\xfe bad bytes here\n"
                                       + b"more text after it\n" * 50)
    packed = gzip.compress(text.encode(), mtime=0)
    (root / "cut.txt.gz").write_bytes(packed[: len(packed) * 2 // 3])
    shutil.copy(realtext.warc_sample(8)[0], root / "one.warc")
    return [str(root / name) for name in ("mixed.txt", "ascii.txt", "invalid.txt", "cut.txt.gz", "one.warc")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="the other checkout's lib/")
    parser.add_argument("--mb", type=float, default=100.0, help="MB of the prepare benchmark's input (default 100)")
    parser.add_argument("--input", nargs="*", help="prepare these instead")
    parser.add_argument("--tricky", action="store_true", help="prepare generated tricky input instead "
                        "(tricky_inputs: Unicode, controls, PII, invalid UTF-8, a truncated gzip, a WARC)")
    parser.add_argument("--settings", nargs=argparse.REMAINDER, default=[],
                        help="further prepare arguments, the same for both runs (last on the line)")
    args = parser.parse_args()
    import prepare_bench

    with tempfile.TemporaryDirectory(prefix="prepare-identity-") as tmp:
        root = Path(tmp)
        inputs = (tricky_inputs(root / "tricky") if args.tricky else args.input
                  or [str(prepare_bench.link_dir(prepare_bench.pick_inputs(args.mb), root))])
        prepare(args.baseline, inputs, root / "baseline", args.settings)
        prepare(str(BENCH.parent / "lib"), inputs, root / "this", args.settings)
        found = differences(root / "baseline", root / "this")
        tokens = json.loads((root / "this" / "manifest.json").read_text())["tokens"]
    label = (" ".join(["--tricky"] if args.tricky else args.input or [f"--mb {args.mb:g}"])
             + (" " + " ".join(args.settings) if args.settings else ""))
    if found:
        print(f"prepare {label}: {len(found)} difference(s)")
        print("\n".join(found))
        sys.exit(1)
    print(f"prepare {label}: identical ({tokens:,} tokens; shards, vocab.tsv and manifest)")


if __name__ == "__main__":
    main()

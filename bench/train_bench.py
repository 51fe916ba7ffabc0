"""Train-stage benchmark: sharded shardvec against single-process gensim and Spark MLlib.

    python bench/train_bench.py                 # the full comparison (about 70 minutes on 2 cores)
    python bench/train_bench.py --seeds 1 --skip-mllib --skip-scaling   # a quick look

Every method trains on the same corpus (prepared once by ``shardvec prepare``
from real text, see ``bench/realtext.py``) with the same settings: skip-gram,
d=100, window 5, negative 5, sample 1e-3, 5 epochs, min_count 5. Each run is a
fresh process; words/s is corpus tokens x epochs over the wall time of the
whole training step (cluster start, merges and writing included). Neither
gensim nor shardvec computes the training loss (gensim's default; shardvec's
``train.compute_loss`` is set off for the same work per word). Quality:
analogy accuracy (restrict_vocab=30000), WordSim353 and SimLex-999 Spearman,
mean +- sd over seeds. Results go to ``bench/RESULTS.md`` and a JSON file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realtext  # noqa: E402
import results  # noqa: E402

SETTINGS = {"vector_size": 100, "window": 5, "negative": 5, "sample": 1e-3, "epochs": 5, "sg": 1}
METHODS = ("gensim-file", "gensim-iterable", "periodic", "average", "procrustes", "mllib-1", "mllib-2")


def prepare_corpus(shards: int) -> Path:
    """The benchmark corpus with ``shards`` shards, prepared once and cached."""
    out = realtext.cache_dir() / f"train-corpus-{shards}"
    if (out / "_SUCCESS").exists():
        return out
    inputs = [str(p) for p in realtext.text_inputs()]
    subprocess.run([sys.executable, "-m", "shardvec.cli", "prepare", "--input", *inputs, "--output", str(out),
                    "--overwrite", "--shards", str(shards), "--set", "vocab.min_count=5",
                    "--set", "spark.driver_memory=\"6g\""], check=True)
    return out


def line_file(corpus: Path) -> Path:
    """The same sentences as one line-per-sentence file, for gensim's own readers."""
    import pyarrow.parquet as pq

    path = corpus / "all-sentences.txt"
    if not path.exists():
        with path.open("w", encoding="utf-8") as fh:
            for shard in sorted((corpus / "shards").glob("*.parquet")):
                for batch in pq.ParquetFile(shard).iter_batches(columns=["tokens"]):
                    for tokens in batch.column(0).to_pylist():
                        fh.write(" ".join(tokens) + "\n")
    return path


def run_one(method: str, seed: int, corpus: Path) -> dict[str, Any]:
    """Train once in this process; return wall seconds and quality."""
    from shardvec.evaluate import intrinsic_scores

    manifest = json.loads((corpus / "manifest.json").read_text())
    if method.startswith("gensim"):
        kv, seconds = gensim_train(method, seed, corpus)
    elif method.startswith("mllib"):
        kv, seconds = _mllib(int(method.split("-")[1]), seed, corpus)
    else:
        kv, seconds = _shardvec(method, seed, corpus)
    return {"method": method, "seed": seed, "shards": len(manifest["shards"]), "seconds": seconds,
            "tokens": manifest["tokens"], "vocab": len(kv),
            "words_per_s": manifest["tokens"] * SETTINGS["epochs"] / seconds, **intrinsic_scores(kv, 30000)}


def gensim_train(method: str, seed: int, corpus: Path, epochs: int = SETTINGS["epochs"]):
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence

    path = line_file(corpus)
    t0 = time.perf_counter()
    source = {"corpus_file": str(path)} if method == "gensim-file" else {"sentences": LineSentence(str(path))}
    model = Word2Vec(**source, min_count=5, workers=2, seed=seed, **{**SETTINGS, "epochs": epochs})
    return model.wv, time.perf_counter() - t0


def shardvec_config(merge: str, seed: int, epochs: int = SETTINGS["epochs"]):
    """shardvec's config for the benchmark settings: 2 Dask workers x 1 thread, no evaluation.

    The training loss is off, as in the gensim runs (gensim's default), so
    both do the same work per word.
    """
    from shardvec.config import Config

    cfg = Config()
    for key, value in {**SETTINGS, "epochs": epochs}.items():
        setattr(cfg.train, key, value)
    cfg.train.seed, cfg.train.merge, cfg.train.evaluate, cfg.train.compute_loss = seed, merge, False, False
    cfg.dask.n_workers, cfg.dask.threads_per_worker = 2, 1
    return cfg


def _shardvec(merge: str, seed: int, corpus: Path):
    import tempfile

    from shardvec import api
    from shardvec.vectors import load_keyed_vectors

    cfg = shardvec_config(merge, seed)
    with tempfile.TemporaryDirectory(dir=realtext.cache_dir()) as tmp:
        cfg.train.corpus, cfg.train.output = str(corpus), tmp
        t0 = time.perf_counter()
        api.train(cfg)
        seconds = time.perf_counter() - t0
        return load_keyed_vectors(tmp), seconds


def _mllib(partitions: int, seed: int, corpus: Path):
    import numpy as np
    from gensim.models import KeyedVectors
    from pyspark.ml.feature import Word2Vec
    from pyspark.sql import SparkSession

    t0 = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").config("spark.driver.memory", "8g")
             .config("spark.driver.maxResultSize", "4g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    data = spark.read.parquet(str(corpus / "shards"))
    model = Word2Vec(vectorSize=SETTINGS["vector_size"], windowSize=SETTINGS["window"], minCount=5,
                     maxIter=SETTINGS["epochs"], numPartitions=partitions, seed=seed,
                     inputCol="tokens", outputCol="v").fit(data)
    rows = model.getVectors().collect()
    seconds = time.perf_counter() - t0
    kv = KeyedVectors(SETTINGS["vector_size"])
    kv.add_vectors([r["word"] for r in rows], np.array([r["vector"].toArray() for r in rows], dtype=np.float32))
    # MLlib's vocabulary is unordered: sort by frequency like the others, for restrict_vocab.
    counts = {w: c for w, c in (line.split("\t") for line in (corpus / "vocab.tsv").read_text().splitlines())}
    order = sorted(kv.index_to_key, key=lambda w: -int(counts.get(w, 0)))
    sorted_kv = KeyedVectors(SETTINGS["vector_size"])
    sorted_kv.add_vectors(order, np.stack([kv[w] for w in order]))
    spark.stop()
    return sorted_kv, seconds


def spawn(method: str, seed: int, corpus: Path) -> dict[str, Any]:
    print(f"[bench] {method} seed {seed} on {corpus.name}", file=sys.stderr, flush=True)
    out = subprocess.run([sys.executable, __file__, "--one", method, "--seed", str(seed), "--corpus", str(corpus)],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    print(f"[bench]   {result['seconds']:.1f}s {result['words_per_s']:,.0f} words/s "
          f"analogy {result['analogy']['accuracy']} ws353 {result['wordsim353']['spearman']}", file=sys.stderr)
    return result


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def ms(values: list[float]) -> str:
        if len(values) == 1:
            return f"{values[0]:.3f}"
        return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"

    rows = []
    for key in dict.fromkeys((r["method"], r["shards"]) for r in runs):
        group = [r for r in runs if (r["method"], r["shards"]) == key]
        rows.append({"method": key[0], "shards": key[1], "seeds": len(group),
                     "words_per_s": statistics.median(r["words_per_s"] for r in group),
                     "analogy": ms([r["analogy"]["accuracy"] for r in group]),
                     "wordsim353": ms([r["wordsim353"]["spearman"] for r in group]),
                     "simlex999": ms([r["simlex999"]["spearman"] for r in group])})
    return rows


def markdown(rows: list[dict[str, Any]], tokens: int, command: str) -> str:
    best = max(r["words_per_s"] for r in rows if r["method"].startswith("gensim"))
    lines = ["## Train stage", "", f"Command: `{command}`", "",
             f"Corpus: {tokens:,} tokens of real English text (bench/realtext.py), skip-gram, d=100, window 5, "
             "negative 5, sample 1e-3, 5 epochs, min_count 5; shardvec with 2 Dask workers x 1 thread; gensim with "
             "2 threads; MLlib in local[2]. Quality: mean ± sd over seeds.", "",
             "| method | shards | seeds | words/s (median) | vs best gensim | analogy | WordSim353 | SimLex-999 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['shards']} | {r['seeds']} | {r['words_per_s']:,.0f} | "
                     f"{r['words_per_s'] / best:.2f}x | {r['analogy']} | {r['wordsim353']} | {r['simlex999']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--seeds", type=int, default=3, help="seeds for gensim-file and periodic (default 3)")
    parser.add_argument("--other-seeds", type=int, default=1, help="seeds for the other methods (default 1)")
    parser.add_argument("--mllib-seeds", type=int, default=3, help="seeds for each MLlib run (default 3)")
    parser.add_argument("--skip-mllib", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true", help="skip periodic at 4, 8 and 16 shards")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.seed, args.corpus)))
        return

    corpus = prepare_corpus(2)
    line_file(corpus)
    # Interleaved (A B A B ...), so a drift in machine speed touches every method alike.
    plan = [(m, s) for s in range(1, args.seeds + 1) for m in ("gensim-file", "periodic")]
    plan += [(m, s) for s in range(1, args.other_seeds + 1) for m in ("gensim-iterable", "average", "procrustes")]
    if not args.skip_mllib:
        plan += [(m, s) for s in range(1, args.mllib_seeds + 1) for m in ("mllib-1", "mllib-2")]
    runs = [spawn(m, s, corpus) for m, s in plan]
    if not args.skip_scaling:
        runs += [spawn("periodic", 1, prepare_corpus(n)) for n in (4, 8, 16)]
    (realtext.cache_dir() / "train_bench.json").write_text(json.dumps(runs, indent=1))
    command = "python bench/train_bench.py " + " ".join(sys.argv[1:])
    section = markdown(summarise(runs), runs[0]["tokens"], command.strip())
    results.write_section(section)
    print(section)


if __name__ == "__main__":
    main()

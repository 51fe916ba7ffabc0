"""Train-stage benchmark: sharded shardvec against single-process gensim and Spark MLlib.

    python bench/train_bench.py                 # the full comparison (about 70 minutes on 2 cores)
    python bench/train_bench.py --seeds 1 --skip-mllib --skip-scaling   # a quick look
    python bench/train_bench.py --grid          # quality and traffic from 2 to 64 shards (hours on 2 cores)

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

from shardvec.logs import show_progress  # noqa: E402
from shardvec.train.rules import DEFAULT_RULE, RULES, RuleSettings, make_rule  # noqa: E402

SETTINGS = {"vector_size": 100, "window": 5, "negative": 5, "sample": 1e-3, "epochs": 5, "sg": 1}
METHODS = ("gensim-file", "gensim-iterable", "mllib-1", "mllib-2")
# MLlib trains hierarchical softmax without sub-sampling only: shardvec's like-for-like settings.
LIKE_MLLIB = {"hs": 1, "negative": 0, "sample": 0.0}


def prepare_corpus(shards: int) -> Path:
    """The benchmark corpus with ``shards`` shards, prepared once and cached."""
    out = realtext.cache_dir() / f"train-corpus-{shards}"
    if (out / "_SUCCESS").exists() and "shard_block_tokens" in json.loads((out / "manifest.json").read_text()):
        return out  # (a corpus without it has the layout before sentences were dealt: built again)
    inputs = [str(p) for p in realtext.text_inputs()]
    subprocess.run([sys.executable, "-m", "shardvec.cli", "prepare", "--input", *inputs, "--output", str(out),
                    "--overwrite", "--shards", str(shards), "--set", "vocab.min_count=5",
                    "--set", "spark.driver_memory=\"6g\""], check=True)
    return out


def dealt_corpus(corpus: Path) -> Path:
    """``corpus`` with its sentences dealt out to its shards one by one (sentence ``i`` of the shards read
    in order goes to shard ``i`` mod K), built once beside it: shards that mix the corpus sentence by
    sentence, where prepare deals 256-token blocks (before, ``total / (64 K)``-token blocks)."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    out = corpus.with_name(corpus.name + "-dealt")
    if (out / "_SUCCESS").exists():
        return out
    manifest = json.loads((corpus / "manifest.json").read_text())
    sentences = pa.concat_arrays([pq.read_table(corpus / "shards" / s["file"]).column("tokens").combine_chunks()
                                  for s in manifest["shards"]])
    k = len(manifest["shards"])
    (out / "shards").mkdir(parents=True, exist_ok=True)
    for i, spec in enumerate(manifest["shards"]):
        dealt = sentences.take(pa.array(range(i, len(sentences), k)))
        pq.write_table(pa.table({"tokens": dealt}), out / "shards" / spec["file"], row_group_size=1 << 16)
        spec.update(sentences=len(dealt), tokens=len(dealt.flatten()))
    for name in ("vocab.parquet", "vocab.tsv"):
        shutil.copy(corpus / name, out / name)
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "_SUCCESS").touch()
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


def run_one(method: str, seed: int, corpus: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Train once in this process; return wall seconds, quality and (shardvec) the rounds' traffic."""
    from shardvec.evaluate import intrinsic_scores

    manifest = json.loads((corpus / "manifest.json").read_text())
    rounds: dict[str, Any] = {}
    if method.startswith("gensim"):
        kv, seconds = gensim_train(method, seed, corpus, options=options)
    elif method.startswith("mllib"):
        kv, seconds = _mllib(int(method.split("-")[1]), seed, corpus)
    else:
        kv, seconds, rounds = _shardvec(method, seed, corpus, options)
    return {"method": method, "seed": seed, "shards": len(manifest["shards"]), "seconds": seconds,
            "tokens": manifest["tokens"], "vocab": len(kv), "options": options, **rounds,
            "words_per_s": manifest["tokens"] * _epochs(options) / seconds, **intrinsic_scores(kv, 30000)}


def gensim_train(method: str, seed: int, corpus: Path, epochs: int = SETTINGS["epochs"],
                 options: dict[str, Any] | None = None):
    """One gensim run; ``options`` change its settings (e.g. LIKE_MLLIB, for the reference of that comparison,
    or its threads, ``workers``)."""
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence

    path = line_file(corpus)
    t0 = time.perf_counter()
    source = {"corpus_file": str(path)} if method == "gensim-file" else {"sentences": LineSentence(str(path))}
    settings = {"min_count": 5, "workers": 2, "seed": seed, **SETTINGS, "epochs": epochs, **(options or {})}
    model = Word2Vec(**source, **settings)
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


def same_cell(run: dict[str, Any], method: str, shards: int, options: dict[str, Any]) -> bool:
    """Whether a recorded ``run`` trained what today's cell would: same method, shards and effective options.

    Options compare after dropping a ``rounds_per_epoch`` equal to the
    rule's own default and the runs' rounds must match: a run made under an
    older default (32 shards merged 10 times per epoch before adasum's
    interval shrank with the shards) is not taken for today's cell, and one
    that set today's default by hand is.
    """
    return (run["method"] == method and run["shards"] == shards
            and _effective(method, shards, run.get("options", {})) == _effective(method, shards, options)
            and run.get("rounds") == _planned_rounds(method, shards, options))


def _effective(method: str, shards: int, options: dict[str, Any]) -> dict[str, Any]:
    if method in RULES and options.get("rounds_per_epoch") == make_rule(method).rounds_per_epoch(shards):
        return {k: v for k, v in options.items() if k != "rounds_per_epoch"}
    return options


def _planned_rounds(method: str, shards: int, options: dict[str, Any]) -> int | None:
    """The rounds a shardvec run of this cell makes with today's defaults (None for gensim and MLlib)."""
    if method not in RULES:
        return None
    rule = make_rule(method, RuleSettings(rounds_per_epoch=options.get("rounds_per_epoch", 0)))
    return _epochs(options) * rule.rounds_per_epoch(shards) if rule.periodic else 1


def _epochs(options: dict[str, Any]) -> int:
    return options.get("epochs", SETTINGS["epochs"])


def _shardvec(merge: str, seed: int, corpus: Path, options: dict[str, Any]):
    """One ``api.train`` run; ``options`` are further ``[train]`` keys (e.g. rounds_per_epoch, delta_dtype)."""
    import tempfile

    from shardvec import api
    from shardvec.vectors import load_keyed_vectors

    cfg = shardvec_config(merge, seed)
    for key, value in options.items():
        setattr(cfg.train, key, value)
    with tempfile.TemporaryDirectory(dir=realtext.cache_dir()) as tmp:
        cfg.train.corpus, cfg.train.output = str(corpus), tmp
        t0 = time.perf_counter()
        api.train(cfg)
        seconds = time.perf_counter() - t0
        report = json.loads((Path(tmp) / "train_report.json").read_text())
        log = report["round_log"]
        rounds = {"rounds": report["rounds"], "words_per_shard_round": report["words_per_shard_round"],
                  "lr_multiplier": report["lr_scale"],
                  "bytes_per_round": statistics.median(r["bytes_moved"] for r in log),
                  "merge_seconds_per_round": statistics.median(r["merge_seconds"] for r in log)}
        return load_keyed_vectors(tmp), seconds, rounds


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


def spawn(method: str, seed: int, corpus: Path, options: dict[str, Any] | None = None) -> dict[str, Any]:
    print(f"[bench] {method} seed {seed} on {corpus.name} {options or ''}", file=sys.stderr, flush=True)
    out = subprocess.run([sys.executable, __file__, "--one", method, "--seed", str(seed), "--corpus", str(corpus),
                          "--options", json.dumps(options or {})],
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


def scaling_grid(shard_counts: list[int], seeds: int, rivals: list[str], rival_shards: list[int], mllib: bool,
                 resume: bool, report_only: bool = False) -> None:
    """Quality, words/s and traffic of the default rule from 2 to 64 shards, beside gensim and rivals.

    All on 2 workers (shards beyond the workers run several per worker), one
    run at a time. Cells: gensim-file (quality reference); the default rule
    at every shard count; the rivals, the default with one merge per epoch
    (long rounds) and with float16 deltas at 16 and 64 shards; with MLlib,
    shardvec and MLlib both with MLlib's settings (hs=1, no negatives, no
    sub-sampling) at 2 shards / partitions. Seed 1 of every cell runs before
    any seed 2. Each run is appended to ``train_grid.jsonl`` in the bench
    cache as it ends; ``resume`` reuses the runs found there.
    """
    log = realtext.cache_dir() / "train_grid.jsonl"
    runs = [json.loads(line) for line in log.read_text().splitlines()] if resume and log.exists() else []
    if not resume:
        log.write_text("")
    reference = prepare_corpus(2)
    line_file(reference)
    cells: list[tuple[str, int, dict[str, Any]]] = [("gensim-file", 2, {})]
    cells += [(DEFAULT_RULE, k, {}) for k in shard_counts]
    for k in rival_shards:
        if k in shard_counts:
            cells += [(rule, k, {}) for rule in rivals]
            cells += [(DEFAULT_RULE, k, {"rounds_per_epoch": 1}), (DEFAULT_RULE, k, {"delta_dtype": "float16"})]
    if mllib:
        cells += [(DEFAULT_RULE, 2, LIKE_MLLIB), ("mllib-1", 2, {})]
    for seed in range(1, 0 if report_only else seeds + 1):
        for method, k, options in cells:
            if method.startswith("mllib") or options == LIKE_MLLIB:
                if seed > 1:
                    continue
            if any(r["seed"] == seed and same_cell(r, method, k, options) for r in runs):
                continue
            runs.append(spawn(method, seed, prepare_corpus(k), options))
            with log.open("a") as fh:
                fh.write(json.dumps(runs[-1]) + "\n")
    if not runs:
        raise SystemExit(f"no grid runs recorded in {log}")
    command = "python bench/train_bench.py " + " ".join(sys.argv[1:])
    section = grid_markdown(runs, command.strip())
    results.write_section(section)
    print(section)


def grid_markdown(runs: list[dict[str, Any]], command: str) -> str:
    """The grid as a table: one row per (method, shards, options, rounds), quality as mean ± sd over seeds."""
    def ms(values: list[float]) -> str:
        if len(values) == 1:
            return f"{values[0]:.3f}"
        return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"

    lines = ["## Train at scale", "", f"Command: `{command}`", "",
             f"Corpus: {runs[0]['tokens']:,} tokens of real English (bench/realtext.py); skip-gram, d=100, window 5, "
             "negative 5, sample 1e-3, 5 epochs, min_count 5; shardvec on 2 Dask workers x 1 thread (shards beyond "
             "the workers run several per worker); gensim with 2 threads. Quality: mean ± sd over seeds; bytes "
             "and merge seconds: median over rounds (Dask's own transfer counters; merge seconds = round wall time "
             "beyond the busiest worker's training).", "",
             "| method | shards | options | seeds | merges/epoch | words/shard/round | lr x | analogy | WordSim353 | "
             "SimLex-999 | words/s | MiB moved/round | merge s/round |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def cell(r: dict[str, Any]) -> tuple:
        return r["method"], r["shards"], json.dumps(_effective(r["method"], r["shards"], r.get("options", {}))), \
            r.get("rounds")

    for key in dict.fromkeys(cell(r) for r in runs):
        group = [r for r in runs if cell(r) == key]
        first = group[0]
        sharded = "bytes_per_round" in first
        rounds = (f"{first['rounds'] // _epochs(first.get('options', {}))} | {first['words_per_shard_round']:,} | "
                  f"{first['lr_multiplier']:g}" if sharded else "- | - | -")
        traffic = (f"{statistics.median(r['bytes_per_round'] for r in group) / 2**20:,.1f} | "
                   f"{statistics.median(r['merge_seconds_per_round'] for r in group):.2f}" if sharded else "- | -")
        lines.append(
            f"| {key[0]} | {key[1] if sharded else 1} | {_options(json.loads(key[2]), first)} | {len(group)} | "
            f"{rounds} | {ms([r['analogy']['accuracy'] for r in group])} | "
            f"{ms([r['wordsim353']['spearman'] for r in group])} | {ms([r['simlex999']['spearman'] for r in group])} | "
            f"{statistics.median(r['words_per_s'] for r in group):,.0f} | {traffic} |")
    return "\n".join(lines) + "\n"


def _options(options: dict[str, Any], run: dict[str, Any]) -> str:
    """The cell's options; a run whose merges per epoch were an older default says so."""
    text = ", ".join(f"{k}={v}" for k, v in options.items())
    if run.get("rounds") not in (None, _planned_rounds(run["method"], run["shards"], options)):
        then = f"rounds_per_epoch={run['rounds'] // _epochs(options)} (the default then)"
        text = f"{text}, {then}" if text else then
    return text or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--seeds", type=int, default=3, help="seeds for gensim-file and the default rule (default 3)")
    parser.add_argument("--other-seeds", type=int, default=1, help="seeds for the other methods (default 1)")
    parser.add_argument("--mllib-seeds", type=int, default=3, help="seeds for each MLlib run (default 3)")
    parser.add_argument("--skip-mllib", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true", help="skip the default rule at 4, 8 and 16 shards")
    parser.add_argument("--grid", action="store_true", help="the scaling grid instead (see scaling_grid)")
    parser.add_argument("--grid-shards", default="2,4,8,16,32,64", help="shard counts of the grid")
    parser.add_argument("--grid-seeds", type=int, default=2, help="seeds per grid cell")
    parser.add_argument("--rivals", default="bmuf,periodic", help="rules run beside the default at 16 and 64")
    parser.add_argument("--rival-shards", default="16,64", help="shard counts where rivals, long rounds and "
                        "float16 run")
    parser.add_argument("--grid-resume", action="store_true", help="reuse the grid runs already recorded")
    parser.add_argument("--grid-report", action="store_true", help="only write the table of the runs recorded")
    parser.add_argument("--dealt-corpus", action="store_true",
                        help="print the path of the 2-shard corpus with its sentences dealt out one by one "
                             "(built once), for --one ... --corpus")
    args = parser.parse_args()
    if args.dealt_corpus:
        print(dealt_corpus(prepare_corpus(2)))
        return
    show_progress()  # the progress lines the command prints
    if args.one:
        print(json.dumps(run_one(args.one, args.seed, args.corpus, json.loads(args.options))))
        return
    if args.grid:
        scaling_grid([int(k) for k in args.grid_shards.split(",")], args.grid_seeds, args.rivals.split(","),
                     [int(k) for k in args.rival_shards.split(",")], not args.skip_mllib,
                     args.grid_resume or args.grid_report, args.grid_report)
        return

    corpus = prepare_corpus(2)
    line_file(corpus)
    # Interleaved (A B A B ...), so a drift in machine speed touches every method alike.
    plan = [(m, s) for s in range(1, args.seeds + 1) for m in ("gensim-file", DEFAULT_RULE)]
    plan += [(m, s) for s in range(1, args.other_seeds + 1) for m in ("gensim-iterable", "periodic", "average",
                                                                        "procrustes")]
    if not args.skip_mllib:
        plan += [(m, s) for s in range(1, args.mllib_seeds + 1) for m in ("mllib-1", "mllib-2")]
    runs = [spawn(m, s, corpus) for m, s in plan]
    if not args.skip_scaling:
        runs += [spawn(DEFAULT_RULE, 1, prepare_corpus(n)) for n in (4, 8, 16)]
    (realtext.cache_dir() / "train_bench.json").write_text(json.dumps(runs, indent=1))
    command = "python bench/train_bench.py " + " ".join(sys.argv[1:])
    section = markdown(summarise(runs), runs[0]["tokens"], command.strip())
    results.write_section(section)
    print(section)


if __name__ == "__main__":
    main()

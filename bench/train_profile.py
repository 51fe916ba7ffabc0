"""Where a sharded run's time and CPU go (periodic and adasum), beside gensim-file on the same corpus and epochs.

    flock /tmp/shardvec-bench.lock .venv/bin/python bench/train_profile.py --epochs 2

Each method runs in a fresh child process, one after the other; for each, the
wall time and the CPU time of the process and all its descendants (user,
system, minor page faults: the Dask workers are grandchildren that are waited
for, so their usage is included). For periodic, Dask's task stream adds the
time each kind of task spent computing and waiting for its inputs to arrive
from another worker. Parts of a periodic run are also measured alone, for as
many rounds as the run has: ``exchange`` (two workers make weights of the
corpus's size, swap them and average both, no training; the average goes into
fresh arrays where periodic uses pooled ones, so this is an upper bound), ``checkpoints`` (the
round checkpoints written one after the other), and one shard's trainer in
one process, ``trainer-copies`` as periodic drives it (the other shard's
result arriving as fresh arrays, and its mean with this shard's result
loaded into pooled arrays the model trains next) against ``trainer-bare``
(gensim's training calls only); both build the model as a shard trainer
does (``build_shard_model``). Uses the train
benchmark's corpus and settings (``bench/train_bench.py``); prints a Markdown
table.
"""

from __future__ import annotations

import argparse
import collections
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realtext  # noqa: E402
import train_bench  # noqa: E402

from shardvec.logs import show_progress  # noqa: E402


def sharded(merge: str, corpus: Path, epochs: int) -> dict:
    """One run of merge rule ``merge`` on the cluster ``shardvec train`` would embed, with its task stream.

    ``training`` is the shards' own training time (gensim's calls) summed over
    the rounds: a trainer task's compute time beyond it is merge work done on
    the worker (copies, deltas, combining).
    """
    from distributed import get_task_stream

    from shardvec import api
    from shardvec.dask.cluster import dask_client

    cfg = train_bench.shardvec_config(merge, 1, epochs)
    with dask_client(cfg.dask) as client, tempfile.TemporaryDirectory(dir=realtext.cache_dir()) as tmp:
        cfg.dask.scheduler, cfg.train.corpus, cfg.train.output = client.scheduler.address, str(corpus), tmp
        with get_task_stream(client) as stream:
            t0 = time.perf_counter()
            api.train(cfg)
            seconds = time.perf_counter() - t0
        report = json.loads((Path(tmp) / "train_report.json").read_text())
    tasks: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for task in stream.data:
        kind = str(task["key"]).split("-")[0]
        tasks[kind]["count"] += 1
        for part in task["startstops"]:
            tasks[kind][part["action"]] += part["stop"] - part["start"]
    training = sum(sum(r["shard_seconds"]) for r in report["round_log"])
    return {"seconds": seconds, "training": round(training, 2),
            "tasks": {k: {a: round(v, 2) for a, v in c.items()} for k, c in tasks.items()}}


def _weights(vocab_size: int, value: float):
    import numpy as np

    from shardvec.train.weights import ModelWeights

    shape = (vocab_size, train_bench.SETTINGS["vector_size"])
    return ModelWeights(np.full(shape, value, np.float32), np.full(shape, -value, np.float32))


def _average(a, b) -> int:
    from shardvec.train.merge import mean_into

    out = _weights(len(a.vectors), 0.0)
    mean_into(out, [a, b])
    return 0


def exchange(corpus: Path, epochs: int) -> dict:
    """Periodic's exchange without training: per round, each worker's result crosses to the other."""
    from shardvec.dask.cluster import dask_client

    size = _vocab(corpus)
    with dask_client(train_bench.shardvec_config("periodic", 1).dask) as client:
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
        t0 = time.perf_counter()
        for r in range(len(_plan(epochs))):
            made = [client.submit(_weights, size, float(r), workers=[w], pure=False) for w in workers]
            client.gather([client.submit(_average, made[i], made[1 - i], workers=[w], pure=False)
                           for i, w in enumerate(workers)])
        return {"seconds": time.perf_counter() - t0}


def checkpoints(corpus: Path, epochs: int) -> dict:
    from shardvec.corpus import Vocab
    from shardvec.storage import as_store
    from shardvec.train.model_io import save_checkpoint

    vocab = Vocab.load(as_store(corpus / "vocab.parquet"))
    weights = _weights(len(vocab), 0.5)
    with tempfile.TemporaryDirectory(dir=realtext.cache_dir()) as tmp:
        t0 = time.perf_counter()
        for r in range(len(_plan(epochs))):
            save_checkpoint(as_store(Path(tmp)), r, weights, vocab, {"round": r})
        return {"seconds": time.perf_counter() - t0}


def _trainer(corpus: Path, epochs: int, copies: bool) -> dict:
    from shardvec.corpus import Vocab
    from shardvec.storage import as_store
    from shardvec.train.buffers import ArrayPool
    from shardvec.train.params import Word2VecParams
    from shardvec.train.materialise import materialise_shard
    from shardvec.train.trainer import build_shard_model, get_weights, load_start, train_round

    cfg = train_bench.shardvec_config("periodic", 1, epochs)
    params, vocab = Word2VecParams.from_config(cfg.train), Vocab.load(as_store(corpus / "vocab.parquet"))
    with tempfile.TemporaryDirectory(dir=realtext.cache_dir()) as tmp:
        shard = as_store(sorted((corpus / "shards").glob("*.parquet"))[0])
        chunks = materialise_shard(shard, vocab, _rounds_per_epoch(), Path(tmp))
        model, pool = build_shard_model(params, vocab), ArrayPool()
        t0 = time.perf_counter()
        for rnd in _plan(epochs):
            if copies:
                result = train_round(model, chunks, rnd, 0, cfg.train.compute_loss)
                load_start(model, [result.weights, get_weights(model)], pool)
            else:
                model.train(corpus_file=str(chunks.files[rnd.chunk]), total_words=chunks.words[rnd.chunk],
                            epochs=rnd.epochs, start_alpha=rnd.start_alpha, end_alpha=rnd.end_alpha,
                            compute_loss=cfg.train.compute_loss)
        return {"seconds": time.perf_counter() - t0}


def _vocab(corpus: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(corpus / "vocab.parquet").num_rows


def _plan(epochs: int) -> list:
    """The rounds of a 2-shard periodic run with the benchmark settings."""
    from shardvec.train.params import Word2VecParams
    from shardvec.train.schedule import periodic_rounds

    cfg = train_bench.shardvec_config("periodic", 1, epochs)
    params = Word2VecParams.from_config(cfg.train)
    return periodic_rounds(epochs, _rounds_per_epoch(), params.alpha, params.min_alpha, 2.0)


def _rounds_per_epoch() -> int:
    """What a 2-shard periodic run of the benchmark config merges per epoch (the config can set it)."""
    from shardvec.train.rules import RuleSettings, make_rule

    cfg = train_bench.shardvec_config("periodic", 1)
    return make_rule("periodic", RuleSettings.from_config(cfg.train)).rounds_per_epoch(2)


def gensim_file(corpus: Path, epochs: int) -> dict:
    return {"seconds": train_bench.gensim_train("gensim-file", 1, corpus, epochs)[1]}


def measured(method: str, corpus: Path, epochs: int) -> dict:
    """Run ``method`` in a child process; its result plus the CPU usage of it and its descendants."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--one", method, "--epochs", str(epochs), "--corpus", str(corpus)],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"method": method, "process_wall": round(wall, 1), **json.loads(out.strip().splitlines()[-1]),
            "user": round(after.ru_utime - before.ru_utime, 1), "system": round(after.ru_stime - before.ru_stime, 1),
            "minor_faults": after.ru_minflt - before.ru_minflt}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--one", choices=tuple(METHODS), help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    show_progress()  # the progress lines the command prints
    if args.one:
        print(json.dumps(METHODS[args.one](args.corpus, args.epochs)))
        return
    corpus = train_bench.prepare_corpus(2)
    rows = [measured(m, corpus, args.epochs) for m in METHODS]
    print("| method | training s | process s | user CPU s | system CPU s | minor page faults |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['seconds']:.1f} | {r['process_wall']} | {r['user']} | {r['system']} | "
              f"{r['minor_faults']:,} |")
    for r in rows:
        if "tasks" in r:
            print(f"\n{r['method']}: shards' training {r['training']} s; tasks (seconds summed over tasks): "
                  f"{json.dumps(r['tasks'])}")


METHODS = {"gensim-file": gensim_file,
           "periodic": lambda corpus, epochs: sharded("periodic", corpus, epochs),
           "adasum": lambda corpus, epochs: sharded("adasum", corpus, epochs), "exchange": exchange, "checkpoints": checkpoints,
           "trainer-bare": lambda corpus, epochs: _trainer(corpus, epochs, copies=False),
           "trainer-copies": lambda corpus, epochs: _trainer(corpus, epochs, copies=True)}

if __name__ == "__main__":
    main()

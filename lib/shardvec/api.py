"""The Python API: one function per stage, each over the typed :class:`Config`.

These are thin drivers: they check the configuration, start (or join) the
engine a stage needs, and call the stage. The CLI and the ``jobs/`` entry
points call them and nothing else.
"""

from __future__ import annotations

import copy
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shardvec.config import Config, TrainConfig
from shardvec.errors import ConfigError, InputError
from shardvec.outputs import staged_output, write_json_atomic
from shardvec.storage import Store, is_remote, mark_success, prepare_output
from shardvec.versions import library_versions

def _require(value: Any, key: str, flag: str) -> None:
    if not value:
        raise ConfigError(f"{key} is not set: give {flag} or --set {key}=...")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def prepare(config: Config) -> Path | str:
    """Spark: raw input files -> ``shards/*.parquet``, ``vocab.parquet``, ``manifest.json`` (any storage)."""
    from shardvec.corpus import CORPUS_SCHEMA
    from shardvec.readers import expand_inputs

    prep = config.prepare
    _require(prep.input, "prepare.input", "--input PATH")
    _require(prep.output, "prepare.output", "--output DIR")
    config.validate()
    locations = expand_inputs(prep.input, config.storage.options)
    if not any(loc.files for loc in locations):
        raise InputError(f"no input files found under {', '.join(prep.input)}")
    output = Store(prep.output, config.storage.options)

    from shardvec.spark.dedup import MINHASH_SEED
    from shardvec.spark.prepare_job import run_prepare
    from shardvec.spark.session import spark_session

    spark = spark_session(config.spark)
    started = time.perf_counter()
    with staged_output(output, prep.overwrite, prep.staging_dir) as staging:
        body = run_prepare(spark, config, locations, staging)
        manifest = {"schema": CORPUS_SCHEMA, "created": _now(), **body,
                    "seconds": round(time.perf_counter() - started, 2), "seed": MINHASH_SEED,
                    "config": config.to_dict(), "versions": library_versions()}
        write_json_atomic(staging / "manifest.json", manifest)
    r = manifest["records"]
    print(f"[prepare] {r['in']} records in, {r['kept']} kept, {sum(r['dropped'].values())} dropped; "
          f"{manifest['tokens']} tokens in {len(manifest['shards'])} shard(s); vocabulary "
          f"{manifest['vocab']['size']} -> {output.url}", file=sys.stderr)
    return output.local or output.url


def train(config: Config) -> Path | str:
    """Dask: corpus shards -> ``vectors.bin``, ``model/``, ``train_report.json`` and ``.png`` (any storage)."""
    from shardvec.corpus import Corpus
    from shardvec.dask.cluster import dask_client
    from shardvec.dask.train_job import RunSpec, check_memory, new_run_id, run_rounds
    from shardvec.train.model_io import save_model, write_vectors
    from shardvec.train.params import Word2VecParams
    from shardvec.train.rules import RuleSettings, make_rule
    from shardvec.vectors import TRAIN_SCHEMA

    tc = config.train
    _require(tc.corpus, "train.corpus", "--corpus DIR")
    _require(tc.output, "train.output", "--output DIR")
    config.validate()
    settings = RuleSettings.from_config(tc)
    rule = make_rule(tc.merge, settings)
    params = Word2VecParams.from_config(tc)
    options = config.storage.options
    corpus = Corpus.open(tc.corpus, options)
    vocab = corpus.vocab()
    if len(vocab) == 0:
        raise InputError(f"the vocabulary of {corpus.root.url} is empty; lower vocab.min_count when preparing")
    n_shards = len(corpus.shards)
    plan = _round_plan(tc, params, rule, corpus.shard_tokens)
    output = Store(tc.output, options)
    prepare_output(output, tc.overwrite, tc.resume)
    meta = {"params": params.to_dict(), "merge": tc.merge, "shards": n_shards, "rounds": len(plan.rounds),
            "lr_scale": plan.lr_multiplier, "corpus": corpus.root.url}
    if rule.exchange == "deltas":  # what else a delta rule's checkpoint depends on (weight rules: as before)
        meta.update(rule_settings=asdict(settings), delta_dtype=tc.delta_dtype)
    start = _resume_point(output, meta, vocab.words) if tc.resume else 0

    started = time.perf_counter()
    with dask_client(config.dask) as client:
        memory = check_memory(client, len(vocab), params.vector_size, n_shards, rule)
        spec = RunSpec(new_run_id(), output, corpus.root / "vocab.parquet", tuple(corpus.shards), params,
                       plan.rounds_per_epoch, rule, meta, tc.compute_loss, tc.delta_dtype)
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        weights, records = run_rounds(client, spec, plan.rounds, start, corpus)
    train_seconds = time.perf_counter() - started

    save_model(output / "model", weights, vocab, meta)
    files = write_vectors(output, vocab, weights.vectors, tc.write_text, tc.write_kv)
    tokens = sum(corpus.shard_tokens)
    report: dict[str, Any] = {
        "schema": TRAIN_SCHEMA, "created": _now(), "corpus": corpus.root.url, "vocab_size": len(vocab),
        "corpus_tokens": tokens, "shards": n_shards, "workers": workers, "merge": tc.merge,
        "lr_scale": plan.lr_multiplier, "rounds": len(plan.rounds), "rounds_per_epoch": plan.rounds_per_epoch,
        "words_per_shard_round": plan.words_per_shard_round,
        "rule": {"name": rule.name, "summary": rule.summary, "exchange": rule.exchange,
                 "lr_multiplier": plan.lr_multiplier, "settings": {**asdict(settings), "delta_dtype": tc.delta_dtype}},
        "resumed_from_round": start, "seed": params.seed,
        "timings": {"train_seconds": round(train_seconds, 2),
                    "words_per_s": round(tokens * params.epochs * (len(plan.rounds) - start) / len(plan.rounds)
                                         / max(train_seconds, 1e-9))},
        "memory": memory, "round_log": records, "outputs": files + ["model/", "train_report.png"],
        "config": config.to_dict(), "versions": library_versions(),
    }
    if tc.evaluate:
        from shardvec.evaluate import intrinsic_scores
        from shardvec.vectors import load_keyed_vectors

        report["evaluation"] = intrinsic_scores(load_keyed_vectors((output / "vectors.bin").url, options),
                                                config.evaluate.restrict_vocab)
    _write_round_plot(report, output)
    (output / "train_report.json").write_json(report)
    mark_success(output)
    print(f"[train] {len(vocab)} words x {params.vector_size} dims, {report['timings']['words_per_s']:,} words/s "
          f"-> {output.url}", file=sys.stderr)
    return output.local or output.url


def _write_round_plot(report: dict[str, Any], output: Store) -> None:
    """``train_report.png``; a picture that cannot be drawn is reported, never the end of a finished training."""
    from shardvec.train.report_plot import plot_rounds

    with tempfile.TemporaryDirectory(prefix="shardvec-plot-") as tmp:
        path = Path(tmp) / "train_report.png"
        try:
            plot_rounds(report, path)
        except Exception as exc:  # noqa: BLE001 - matplotlib's errors are many; the report says what happened
            print(f"[train] warning: train_report.png was not drawn ({type(exc).__name__}: {exc})", file=sys.stderr)
            report["outputs"].remove("train_report.png")
            return
        (output / "train_report.png").write_bytes(path.read_bytes())


@dataclass(frozen=True)
class _RoundPlan:
    rounds: list[Any]
    rounds_per_epoch: int  # also the chunks each shard is cut into
    lr_multiplier: float
    words_per_shard_round: int


def _round_plan(tc: TrainConfig, params: Any, rule: Any, shard_tokens: list[int]) -> _RoundPlan:
    """Rounds, chunks per shard and learning-rate multiplier for the merge rule.

    With ``train.sync_words`` the rounds per epoch follow from the shards'
    size, so a 100B-token corpus and a 16M-token one merge after the same
    amount of training per shard.
    """
    from shardvec.train.rules import quality_warning
    from shardvec.train.schedule import periodic_rounds, rounds_per_epoch_for, single_round

    n_shards = len(shard_tokens)
    per_shard = sum(shard_tokens) // max(n_shards, 1)
    if not rule.periodic:
        rounds = single_round(params.epochs, params.alpha, params.min_alpha)
        return _RoundPlan(rounds, 1, 1.0, per_shard * params.epochs)
    warning = quality_warning(rule, n_shards)
    if warning:
        print(f"[train] warning: {warning}", file=sys.stderr)
    per_epoch = rounds_per_epoch_for(per_shard, tc.sync_words) if tc.sync_words else tc.rounds_per_epoch
    scale = rule.lr_multiplier(n_shards)
    rounds = periodic_rounds(params.epochs, per_epoch, params.alpha, params.min_alpha, scale)
    return _RoundPlan(rounds, per_epoch, scale, per_shard // per_epoch)


def _resume_point(output: Store, meta: dict[str, Any], words: list[str]) -> int:
    """The first round still to run, after the newest good checkpoint of the same run."""
    from shardvec.train.model_io import latest_checkpoint

    saved = latest_checkpoint(output)
    if saved is None:
        return 0
    if {k: saved.meta.get(k) for k in meta} != meta or saved.vocab.words != words:
        raise InputError(f"checkpoint in {output.url} was made with other settings or another corpus; "
                         "rerun with --overwrite to start over")
    start = saved.meta["round"] + 1
    print(f"[train] resuming after round {start}/{meta['rounds']}", file=sys.stderr)
    return start


def evaluate(config: Config) -> dict[str, Any]:
    """Analogy accuracy and word-similarity correlations of a set of vectors."""
    from shardvec.evaluate import format_scores, intrinsic_scores
    from shardvec.vectors import load_keyed_vectors

    ev = config.evaluate
    _require(ev.vectors, "evaluate.vectors", "--vectors PATH")
    config.validate()
    kv = load_keyed_vectors(ev.vectors, config.storage.options)
    scores = {"vectors": ev.vectors, **intrinsic_scores(kv, ev.restrict_vocab)}
    print(format_scores(scores))
    if ev.output:
        Store(ev.output, config.storage.options).write_json(scores)
    return scores


# What fine-tuning needs from a train output directory (checkpoints are left behind).
_TRAIN_ENTRIES = ("vectors.bin", "train_report.json", "_SUCCESS", "model")


def finetune(config: Config) -> dict[str, Any]:
    """Transfer learning on a labelled target set; writes report.json and report.md.

    Inputs and output may be remote: inputs are copied to a local temporary
    directory, and the report is written there and then stored, ``_SUCCESS`` last.
    """
    from shardvec.finetune.pipeline import format_summary, run_finetune

    ft = config.finetune
    _require(ft.vectors, "finetune.vectors", "--vectors PATH")
    _require(ft.output, "finetune.output", "--output DIR")
    if not ft.dataset and not ft.train:
        raise ConfigError("give --dataset FILE, or --train FILE (with --dev/--test)")
    options = config.storage.options
    with tempfile.TemporaryDirectory(prefix="shardvec-finetune-") as tmp:
        local = copy.deepcopy(config)
        for key in ("vectors", "dataset", "train", "dev", "test"):
            value = getattr(ft, key)
            if value and is_remote(value):
                setattr(local.finetune, key, str(_download(Store(value, options), Path(tmp) / key)))
        output = Store(ft.output, options)
        if output.local is None:
            prepare_output(output, ft.overwrite)
            local.finetune.output = str(Path(tmp) / "report")
        report = run_finetune(local)
        if output.local is None:
            output.upload_dir(Path(local.finetune.output))
    print(format_summary(report))
    return report


def _download(source: Store, target: Path) -> Path:
    """A local copy of a file, or of the parts of a train directory that fine-tuning reads."""
    if not source.exists():
        raise InputError(f"{source.url} does not exist")
    if not source.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        source.fs.get_file(source.path, str(target))
        return target
    for name in _TRAIN_ENTRIES:
        part = source / name
        if part.exists():
            source.fs.get(part.path, str(target / name), recursive=part.is_dir())
    return target

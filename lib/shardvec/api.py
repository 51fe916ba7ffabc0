"""The Python API: one function per stage, each over the typed :class:`Config`.

These are thin drivers: they check the configuration, start (or join) the
engine a stage needs, and call the stage. The CLI and the ``jobs/`` entry
points call them and nothing else.
"""

from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shardvec.config import Config, DaskConfig, TrainConfig
from shardvec.errors import ConfigError, InputError
from shardvec.logs import stage_logger
from shardvec.outputs import staged_output, write_json_atomic
from shardvec.storage import Store, is_remote, mark_success, prepare_output
from shardvec.versions import library_versions

prepare_log = stage_logger(__name__, "prepare")
train_log = stage_logger(__name__, "train")

if TYPE_CHECKING:
    from shardvec.corpus import Corpus, Vocab
    from shardvec.train.params import Word2VecParams
    from shardvec.train.rules import MergeRule, RuleSettings
    from shardvec.train.schedule import Round
    from shardvec.train.weights import ModelWeights


def _require(value: Any, key: str, flag: str) -> None:
    if not value:
        raise ConfigError(f"{key} is not set: give {flag} or --set {key}=...")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def prepare(config: Config, sole_run: bool = False) -> Path | str:
    """Spark: raw input files -> ``shards/*.parquet``, ``vocab.parquet``, ``manifest.json`` (any storage).

    ``sole_run``: this process runs no other Spark work (the ``shardvec
    prepare`` command), so the JVM it starts may compile with C1 alone where
    this job needs no more (``spark.jit = "auto"``); a JVM keeps its compiler
    for the process's life, and a later job with joins would pay for it.
    """
    from shardvec.corpus import CORPUS_SCHEMA
    from shardvec.readers import expand_inputs

    prepare_config = config.prepare
    _require(prepare_config.input, "prepare.input", "--input PATH")
    _require(prepare_config.output, "prepare.output", "--output DIR")
    config.validate()
    locations = expand_inputs(prepare_config.input, config.storage.options)
    if not any(location.files for location in locations):
        raise InputError(f"no input files found under {', '.join(prepare_config.input)}")
    output = Store(prepare_config.output, config.storage.options)

    from shardvec.spark.dedup import MINHASH_SEED
    from shardvec.spark.prepare_job import input_files, input_work, run_prepare, small_rows_only
    from shardvec.spark.session import spark_session, without_huge_pages

    work = input_work(input_files(locations), config.storage.options)
    with without_huge_pages(not config.spark.huge_pages):
        spark = spark_session(config.spark, (lambda parallelism: small_rows_only(prepare_config, work, parallelism))
                              if sole_run else None)
        started = time.perf_counter()
        with staged_output(output, prepare_config.overwrite, prepare_config.staging_dir) as staging:
            body = run_prepare(spark, config, locations, work, staging)
            manifest = {"schema": CORPUS_SCHEMA, "created": _now(), **body,
                        "seconds": round(time.perf_counter() - started, 2), "seed": MINHASH_SEED,
                        "config": config.to_dict(), "versions": library_versions()}
            write_json_atomic(staging / "manifest.json", manifest)
    records = manifest["records"]
    prepare_log.info(f"{records['in']} records in, {records['kept']} kept, {sum(records['dropped'].values())} "
                     f"dropped; {manifest['tokens']} tokens in {len(manifest['shards'])} shard(s); vocabulary "
                     f"{manifest['vocab']['size']} -> {output.url}")
    return output.local or output.url


def train(config: Config) -> Path | str:
    """Dask: corpus shards -> ``vectors.bin``, ``model/``, ``train_report.json`` and ``.png`` (any storage)."""
    train_config = config.train
    _require(train_config.corpus, "train.corpus", "--corpus DIR")
    _require(train_config.output, "train.output", "--output DIR")
    config.validate()
    run = _plan_training(train_config, config.storage.options)
    trained = _train_on_dask(config.dask, run)
    files = _write_model(run, trained.weights)
    report = _train_report(config, run, trained, files)
    if train_config.evaluate:
        report["evaluation"] = _evaluate_output(run.output, config)
    _write_round_plot(report, run.output)
    (run.output / "train_report.json").write_json(report)
    mark_success(run.output)
    train_log.info(f"{len(run.vocab)} words x {run.params.vector_size} dims, "
                   f"{report['timings']['words_per_s']:,} words/s -> {run.output.url}")
    return run.output.local or run.output.url


@dataclass(frozen=True)
class _TrainingRun:
    """What a training run is, decided before any cluster is reached."""

    config: TrainConfig
    settings: RuleSettings
    rule: MergeRule
    params: Word2VecParams
    corpus: Corpus
    vocab: Vocab
    plan: _RoundPlan
    output: Store
    meta: dict[str, Any]  # what each checkpoint records of the run; a resumed run must match it
    start: int  # the first round to run: 0, or the one after the checkpoint resumed from


@dataclass(frozen=True)
class _Trained:
    """What the cluster gave back: the final weights, the round log, and how the run went."""

    weights: ModelWeights
    round_log: list[dict[str, Any]]
    workers: int
    memory: dict[str, Any]
    seconds: float


def _plan_training(train_config: TrainConfig, options: dict[str, Any]) -> _TrainingRun:
    """The rule, parameters, corpus and round plan, the output made ready, and the round to start from."""
    from shardvec.train.params import Word2VecParams
    from shardvec.train.rules import RuleSettings, make_rule

    settings = RuleSettings.from_config(train_config)
    rule = make_rule(train_config.merge, settings)
    params = Word2VecParams.from_config(train_config)
    corpus, vocab = _open_corpus(train_config.corpus, options)
    plan = _round_plan(train_config, params, rule, corpus.shard_tokens)
    output = Store(train_config.output, options)
    prepare_output(output, train_config.overwrite, train_config.resume)
    meta = _checkpoint_meta(train_config, settings, rule, params, corpus, plan)
    start = _resume_point(output, meta, vocab.words) if train_config.resume else 0
    return _TrainingRun(train_config, settings, rule, params, corpus, vocab, plan, output, meta, start)


def _open_corpus(location: str, options: dict[str, Any]) -> tuple[Corpus, Vocab]:
    """The finished corpus at ``location`` and its vocabulary, refused when that is empty."""
    from shardvec.corpus import Corpus

    corpus = Corpus.open(location, options)
    vocab = corpus.vocab()
    if len(vocab) == 0:
        raise InputError(f"the vocabulary of {corpus.root.url} is empty; lower vocab.min_count when preparing")
    return corpus, vocab


def _checkpoint_meta(train_config: TrainConfig, settings: RuleSettings, rule: MergeRule, params: Word2VecParams,
                     corpus: Corpus, plan: _RoundPlan) -> dict[str, Any]:
    """What every checkpoint records of the run, and what a resumed run must match."""
    from shardvec.train.rules import DeltaRule

    meta = {"params": params.to_dict(), "merge": train_config.merge, "shards": len(corpus.shards),
            "rounds": len(plan.rounds), "lr_scale": plan.lr_multiplier, "corpus": corpus.root.url}
    if isinstance(rule, DeltaRule):  # what else a delta rule's checkpoint depends on (weight rules: as before)
        # rounds_per_epoch is left out: "rounds" above already pins the schedule it sets.
        rule_settings = {k: v for k, v in asdict(settings).items() if k != "rounds_per_epoch"}
        meta.update(rule_settings=rule_settings, delta_dtype=train_config.delta_dtype)
    return meta


def _train_on_dask(dask_config: DaskConfig, run: _TrainingRun) -> _Trained:
    """Run the rounds still to run on the Dask cluster, after checking that the weights fit its workers."""
    from shardvec.dask.cluster import dask_client
    from shardvec.dask.train_job import RunSpec, check_memory, new_run_id, run_rounds

    started = time.perf_counter()
    with dask_client(dask_config) as client:
        memory = check_memory(client, len(run.vocab), run.params.vector_size, len(run.corpus.shards), run.rule)
        spec = RunSpec(run_id=new_run_id(), output=run.output, vocab=run.corpus.root / "vocab.parquet",
                       shards=tuple(run.corpus.shards), params=run.params, n_chunks=run.plan.rounds_per_epoch,
                       rule=run.rule, meta=run.meta, compute_loss=run.config.compute_loss,
                       delta_dtype=run.config.delta_dtype)
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        weights, round_log = run_rounds(client, spec, run.plan.rounds, run.start, run.corpus)
    return _Trained(weights, round_log, workers, memory, time.perf_counter() - started)


def _write_model(run: _TrainingRun, weights: ModelWeights) -> list[str]:
    """``model/`` and the vector files; the files written, as the report lists them."""
    from shardvec.train.model_io import save_model, write_vectors

    save_model(run.output / "model", weights, run.vocab, run.meta)
    return write_vectors(run.output, run.vocab, weights.vectors, run.config.write_text, run.config.write_kv)


def _train_report(config: Config, run: _TrainingRun, trained: _Trained, files: list[str]) -> dict[str, Any]:
    """``train_report.json`` (its evaluation added afterwards, when asked for)."""
    from shardvec.vectors import TRAIN_SCHEMA

    plan, rule = run.plan, run.rule
    tokens = sum(run.corpus.shard_tokens)
    return {
        "schema": TRAIN_SCHEMA, "created": _now(), "corpus": run.corpus.root.url, "vocab_size": len(run.vocab),
        "corpus_tokens": tokens, "shards": len(run.corpus.shards), "workers": trained.workers,
        "merge": run.config.merge, "lr_scale": plan.lr_multiplier, "rounds": len(plan.rounds),
        "rounds_per_epoch": plan.rounds_per_epoch, "words_per_shard_round": plan.words_per_shard_round,
        "rule": {"name": rule.name, "summary": rule.summary, "exchange": rule.exchange,
                 "lr_multiplier": plan.lr_multiplier,
                 "settings": {**asdict(run.settings), "delta_dtype": run.config.delta_dtype}},
        "resumed_from_round": run.start, "seed": run.params.seed,
        "timings": {"train_seconds": round(trained.seconds, 2),
                    "words_per_s": round(tokens * run.params.epochs * (len(plan.rounds) - run.start) / len(plan.rounds)
                                         / max(trained.seconds, 1e-9))},
        "memory": trained.memory, "round_log": trained.round_log,
        "outputs": files + ["model/", "train_report.png"],
        "config": config.to_dict(), "versions": library_versions(),
    }


def _evaluate_output(output: Store, config: Config) -> dict[str, Any]:
    """The intrinsic scores of the vectors just written."""
    from shardvec.evaluate import intrinsic_scores
    from shardvec.vectors import load_keyed_vectors

    vectors = load_keyed_vectors((output / "vectors.bin").url, config.storage.options)
    return intrinsic_scores(vectors, config.evaluate.restrict_vocab)


def _write_round_plot(report: dict[str, Any], output: Store) -> None:
    """``train_report.png``; a picture that cannot be drawn is reported, never the end of a finished training."""
    from shardvec.train.report_plot import plot_rounds

    with tempfile.TemporaryDirectory(prefix="shardvec-plot-") as tmp:
        path = Path(tmp) / "train_report.png"
        try:
            plot_rounds(report, path)
        except Exception as exc:  # noqa: BLE001 - matplotlib's errors are many; the report says what happened
            train_log.warning(f"warning: train_report.png was not drawn ({type(exc).__name__}: {exc})")
            report["outputs"].remove("train_report.png")
            return
        (output / "train_report.png").write_bytes(path.read_bytes())


@dataclass(frozen=True)
class _RoundPlan:
    """The rounds a run trains, and the figures the report and checkpoints give of them."""

    rounds: list[Round]
    rounds_per_epoch: int  # also the chunks each shard is cut into
    lr_multiplier: float
    words_per_shard_round: int


def _round_plan(train_config: TrainConfig, params: Word2VecParams, rule: MergeRule, shard_tokens: list[int]
                ) -> _RoundPlan:
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
    per_epoch = (rounds_per_epoch_for(per_shard, train_config.sync_words) if train_config.sync_words
                 else rule.rounds_per_epoch(n_shards))
    warning = quality_warning(rule, n_shards, params.epochs, per_epoch)
    if warning:
        train_log.warning(f"warning: {warning}")
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
    train_log.info(f"resuming after round {start}/{meta['rounds']}")
    return start


def evaluate(config: Config) -> dict[str, Any]:
    """Analogy accuracy and word-similarity correlations of a set of vectors."""
    from shardvec.evaluate import format_scores, intrinsic_scores
    from shardvec.vectors import load_keyed_vectors

    evaluate_config = config.evaluate
    _require(evaluate_config.vectors, "evaluate.vectors", "--vectors PATH")
    config.validate()
    vectors = load_keyed_vectors(evaluate_config.vectors, config.storage.options)
    scores = {"vectors": evaluate_config.vectors, **intrinsic_scores(vectors, evaluate_config.restrict_vocab)}
    print(format_scores(scores))
    if evaluate_config.output:
        Store(evaluate_config.output, config.storage.options).write_json(scores)
    return scores


# What fine-tuning needs from a train output directory (checkpoints are left behind).
_TRAIN_ENTRIES = ("vectors.bin", "train_report.json", "_SUCCESS", "model")


def finetune(config: Config) -> dict[str, Any]:
    """Transfer learning on a labelled target set; writes report.json and report.md.

    Inputs and output may be remote: inputs are copied to a local temporary
    directory; the output is staged and stored by :func:`run_finetune`.
    """
    from shardvec.finetune.pipeline import format_summary, run_finetune

    finetune_config = config.finetune
    _require(finetune_config.vectors, "finetune.vectors", "--vectors PATH")
    _require(finetune_config.output, "finetune.output", "--output DIR")
    if not finetune_config.dataset and not finetune_config.train:
        raise ConfigError("give --dataset FILE, or --train FILE (with --dev/--test)")
    options = config.storage.options
    with tempfile.TemporaryDirectory(prefix="shardvec-finetune-") as tmp:
        local = copy.deepcopy(config)
        for key in ("vectors", "dataset", "train", "dev", "test"):
            value = getattr(finetune_config, key)
            if value and is_remote(value):
                setattr(local.finetune, key, str(_download(Store(value, options), Path(tmp) / key)))
        report = run_finetune(local)
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

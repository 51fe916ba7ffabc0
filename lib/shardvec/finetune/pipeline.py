"""``shardvec finetune``: read the target data, build the vector settings, compare them, report.

Everything is written into a staging directory that replaces the output only
when the whole run succeeded, ``_SUCCESS`` last. Configuration mistakes are
found before any data is read; data mistakes before any training starts.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from shardvec.config import Config, FinetuneConfig, PrepareConfig
from shardvec.errors import ConfigError, InputError
from shardvec.evaluate import intrinsic_scores
from shardvec.finetune.adapt import AdaptSettings, Pretrained, load_pretrained, save_vectors
from shardvec.finetune.baseline import BaselineOptions
from shardvec.finetune.classifier import TrainOptions
from shardvec.finetune.datasets import Dataset, ReadOptions, read_dataset
from shardvec.finetune.experiment import CurveOptions, Trained, compare
from shardvec.finetune.modes import MODES, TASKS
from shardvec.finetune.report import format_summary, markdown, write_plots
from shardvec.finetune.selection import Selection
from shardvec.finetune.splits import Split, split_indices
from shardvec.finetune.task import FinetuneMode, ModelOptions, Task
from shardvec.finetune.vectorsets import build_vector_sets
from shardvec.logs import stage_logger
from shardvec.outputs import staged_output, write_json_atomic
from shardvec.storage import Store

log = stage_logger(__name__, "finetune")

__all__ = ["run_finetune", "format_summary"]

REPORT_SCHEMA = "shardvec.finetune/1"


def check_config(config: FinetuneConfig) -> None:
    """What a fine-tune run needs beyond valid keys (:meth:`Config.validate`), as a one-line ConfigError."""
    tasks = [name for name in TASKS if name in config.mode]
    separate = config.train or config.dev or config.test
    checks = [
        (len(tasks) < 2, f"finetune.mode cannot hold both {' and '.join(tasks)}: they need different data"),
        (bool(config.vectors), "finetune.vectors is required: a train output directory or a vectors file"),
        (bool(config.output), "finetune.output is required"),
        (bool(config.dataset) != bool(separate),
         "give either finetune.dataset or finetune.train (with optional dev/test)"),
        (not separate or bool(config.train), "finetune.dev/test need finetune.train"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    supervised = bool(tasks)
    if supervised and config.dataset and (config.dev_fraction == 0 or config.test_fraction == 0):
        raise ConfigError("one finetune.dataset needs dev_fraction > 0 (early stopping) and test_fraction > 0")
    if supervised and separate and ((not config.dev and config.dev_fraction == 0)
                                    or (not config.test and config.test_fraction == 0)):
        raise ConfigError("without finetune.dev/test files, dev_fraction/test_fraction must carve them from train")


def _concat(parts: dict[str, Dataset]) -> Dataset:
    kinds = {d.kind for d in parts.values()}
    if len(kinds) > 1:
        formats = ", ".join(f"{k} {d.format}" for k, d in parts.items())
        raise InputError(f"train/dev/test mix documents and tagged tokens: {formats}")
    first = next(iter(parts.values()))
    raw = None if first.raw is None else [r for d in parts.values() for r in d.raw or d.tokens]
    return Dataset(first.kind, [t for d in parts.values() for t in d.tokens],
                   [ls for d in parts.values() for ls in d.labels], first.source, first.format, raw)


def load_data(config: FinetuneConfig, prepare: PrepareConfig) -> tuple[Dataset, Split, dict[str, str]]:
    """One dataset split by ``split_seed``, or separate files (a missing dev/test carved from train).

    Text is tokenized with the ``[prepare]`` settings, which built the vectors.
    """
    options = ReadOptions(format=config.format, text_field=config.text_field, label_field=config.label_field,
                          lowercase=prepare.lowercase, fold_numbers=prepare.fold_numbers,
                          fix_mojibake=prepare.fix_mojibake)
    if config.dataset:
        data = read_dataset(config.dataset, options)
        split = split_indices(len(data), data.strata, config.dev_fraction, config.test_fraction, config.split_seed)
        return data, split, {"dataset": config.dataset}
    sources = {name: getattr(config, name) for name in ("train", "dev", "test") if getattr(config, name)}
    parts = {name: read_dataset(path, options) for name, path in sources.items()}
    data = _concat(parts)
    n_train = len(parts["train"])
    carved = split_indices(n_train, None if data.strata is None else data.strata[:n_train],
                           0.0 if "dev" in parts else config.dev_fraction,
                           0.0 if "test" in parts else config.test_fraction,
                           config.split_seed)
    given, offset = {}, n_train
    for name in ("dev", "test"):
        if name in parts:
            given[name] = np.arange(offset, offset + len(parts[name]))
            offset += len(parts[name])
    return data, Split(carved.train, given.get("dev", carved.dev), given.get("test", carved.test)), sources


def _setting_names(config: FinetuneConfig, adapting: bool, supervised: bool) -> tuple[list[str], str]:
    """Settings to compare (the primary one always included) and the primary one.

    The primary setting is what the user's switches ask for: with a mode
    that adapts, the adapted vectors, fine-tuned as well with
    ``update_vectors``; without one the pretrained ones, fine-tuned or as
    they are. Without a task nothing is compared or fine-tuned.
    """
    primary = "adapted" if adapting else "pretrained"
    if not supervised:
        return [], primary
    if config.update_vectors:
        primary = "adapted+finetuned" if primary == "adapted" else "finetuned"
    names = list(dict.fromkeys([*config.compare, primary]))
    return names, primary


def class_weight(config: FinetuneConfig, task: Task) -> str:
    """``auto`` class weights lean towards rare classes (``sqrt``) exactly when the headline score weighs
    every class the same (macro-F1, for classify). Token accuracy and entity F1 count examples, so
    weighting rare tags up would trade away the score being reported."""
    if config.class_weight == "auto":
        return "sqrt" if task.metric == "macro_f1" else "none"
    return config.class_weight


def curve_options(config: FinetuneConfig, task: Task) -> CurveOptions:
    """The experiment's options: one candidate per learning rate (and per baseline C), the model, the selection."""
    weights = class_weight(config, task)
    candidates = [TrainOptions(epochs=config.epochs, learning_rate=lr, l2=config.l2, patience=config.patience,
                               batch_size=config.batch_size, class_weight=weights, select_on=config.select_on,
                               lexical_l2=lexical_l2)
                  for lr in dict.fromkeys(config.learning_rate)
                  for lexical_l2 in (dict.fromkeys(config.lexical_l2) if config.lexical else [None])]
    baseline = ([BaselineOptions(c=c, class_weight=weights) for c in dict.fromkeys(config.baseline_c)]
                if config.baseline else [])
    model = ModelOptions(weighting=config.weighting, buckets=config.bigram_buckets, window=config.tag_window,
                         lexical=config.lexical, ngrams=config.lexical_ngrams, hidden=config.hidden,
                         baseline_ngrams=config.baseline_ngrams)
    selection = Selection(by=config.select_by, folds=config.cv_folds, dev_below=config.cv_dev_below,
                          budget_upto=config.cv_budget_upto, cross_fit=config.cross_fit)
    ensemble = [task.baseline if name == "baseline" else name for name in config.ensemble
                if name != "baseline" or config.baseline]
    return CurveOptions(budgets=list(config.budgets), repeats=config.repeats, seed=config.split_seed,
                        min_per_class=config.min_per_class, candidates=candidates, model=model, selection=selection,
                        baseline=baseline, ensemble=ensemble,
                        bigram_settings=list(dict.fromkeys(config.bigram_settings)),
                        ensemble_weights=config.ensemble_weights,
                        ensemble_prior_powers=tuple(config.ensemble_prior_powers), prefer_ensemble=config.prefer_ensemble)


def _with_rows(kv, trained: Trained):
    """A copy of ``kv`` whose rows of the trained words hold the fine-tuned vectors."""
    from gensim.models import KeyedVectors

    out = KeyedVectors(kv.vector_size, count=0)
    out.add_vectors(list(kv.index_to_key), np.array(kv.vectors, dtype=np.float32))
    rows = [kv.key_to_index[w] for w in trained.words.words]
    out.vectors[rows] = trained.encoder.table[:len(rows)]
    return out


def _intrinsic(sets: dict[str, Any], restrict_vocab: int) -> dict[str, Any]:
    """Scores of each vector set; a set too small to answer any pair is recorded as such."""
    scores: dict[str, Any] = {}
    for name, kv in sets.items():
        log.info(f"intrinsic scores of {name} vectors ({len(kv)} words)")
        try:
            scores[name] = intrinsic_scores(kv, restrict_vocab)
        except (ValueError, ZeroDivisionError) as exc:  # scipy needs two answered pairs
            scores[name] = {"vocab_size": len(kv), "skipped": f"too few known words to score: {exc}"}
    return scores


def _data_summary(data: Dataset, split: Split, sources: dict[str, str]) -> dict[str, Any]:
    def counts(units: np.ndarray) -> dict[str, int]:
        found: dict[str, int] = {}
        for u in units:
            for label in data.labels[u]:
                found[label] = found.get(label, 0) + 1
        return dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))

    return {"kind": data.kind, "format": data.format, "sources": sources,
            "units": data.task.units, "multilabel": data.multilabel,
            "splits": split.sizes(),
            "label_counts": {name: counts(getattr(split, name)) for name in ("train", "dev", "test")}}


def run_finetune(config: Config) -> dict[str, Any]:
    """Run every mode of ``config.finetune``; write and return the report.

    The output, local or remote, is staged and stored only once complete
    (:func:`~shardvec.outputs.staged_output`, as every stage's).
    """
    finetune_config = config.finetune
    config.validate()
    check_config(finetune_config)
    started = time.perf_counter()
    output = Store(finetune_config.output, config.storage.options)
    with staged_output(output, finetune_config.overwrite) as stage:
        report = _run(config, stage)
        report["output"] = str(output.local or output.url)
        report["seconds"] = round(time.perf_counter() - started, 2)
        (stage / "report.md").write_text(markdown(report) + "\n", encoding="utf-8")
        write_json_atomic(stage / "report.json", report)
    log.info(f"wrote {report['output']}")
    return report


def _run(config: Config, stage: Path) -> dict[str, Any]:
    finetune_config = config.finetune
    modes: list[type[FinetuneMode]] = [MODES[name] for name in finetune_config.mode]
    task_mode = next((mode for mode in modes if issubclass(mode, Task)), None)  # check_config allows one
    adapting = any(mode.adapts for mode in modes)
    log.info("reading the target data")
    data, split, sources = load_data(finetune_config, config.prepare)
    task = task_mode.build(data, split) if task_mode is not None else None
    supervised = task is not None
    log.info(f"loading vectors from {finetune_config.vectors}")
    pretrained: Pretrained = load_pretrained(finetune_config.vectors)
    texts = [data.tokens[u] for u in (split.train if supervised else range(len(data)))]
    adapt = finetune_config.adapt
    adapt_settings = AdaptSettings(epochs=adapt.epochs, min_count=adapt.min_count, lock=adapt.lock,
                                   seed=finetune_config.split_seed)
    names, primary = _setting_names(finetune_config, adapting, supervised)
    sets, adapted = build_vector_sets(names, pretrained, texts, adapt_settings, need_adapted=adapting)
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA, "modes": list(finetune_config.mode), "primary": primary,
        "data": _data_summary(data, split, sources),
        "vectors": {"source": finetune_config.vectors, "vocab_size": len(pretrained.kv),
                    "dim": pretrained.kv.vector_size,
                    "has_model": pretrained.model is not None},
    }
    files = []
    if adapting:
        save_vectors(adapted[0], stage / "adapted_vectors.bin")
        files.append("adapted_vectors.bin")
        adapted[1]["vectors_file"] = "adapted_vectors.bin"
    report["adapt"] = adapted[1] if adapted else None
    scored = {name: s.kv for name, s in sets.items() if not s.update} if supervised else \
        {"pretrained": pretrained.kv, "adapted": adapted[0]}
    if task is not None:
        options = curve_options(finetune_config, task)
        log.info(f"{task.name}: {len(sets)} settings x budgets {finetune_config.budgets} "
                 f"x {finetune_config.repeats} repeats on {split.sizes()}")
        report[task.name], trained = compare(task, sets, options)
        for name, done in trained.items():
            scored[name] = _with_rows(sets[name].kv, done)
        if finetune_config.update_vectors:
            save_vectors(scored[primary], stage / "finetuned_vectors.bin")
            files.append("finetuned_vectors.bin")
    report["intrinsic"] = _intrinsic(scored, finetune_config.intrinsic_vocab) if finetune_config.intrinsic_vocab else {}
    files += write_plots(report, stage)
    report["files"] = files + ["report.md", "report.json"]
    report["config"] = dataclasses.asdict(finetune_config)
    return report

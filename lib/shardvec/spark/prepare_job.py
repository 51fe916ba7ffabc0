"""The prepare stage on Spark: files -> records -> sentences -> vocab + shards.

Spark only distributes; what happens to each file, document and sentence is
shardvec's core (:mod:`shardvec.readers`, :mod:`shardvec.text`), applied to
whole Arrow batches with ``mapInArrow`` (:mod:`shardvec.spark.records`),
never a row-at-a-time UDF. Without dedup, reading, cleaning and tokenizing
run as one Python pass; dedup needs the JVM (shuffles) between cleaning and
tokenizing. Every input record ends as exactly one ``doc`` (kept) or
``drop`` (with a reason) row, which the accounting checks. The sentences
themselves are written to Parquet part files by the Python worker that
tokenized them (or, with phrases, that joined the phrases), together with
that task's word counts: the JVM only ever sees small rows, and the shards
are cut from the part files by token range.

The order of the sentence rows (partition by partition) is what the shards
follow, so it is made deterministic for a given input, config and Spark
parallelism: files are grouped by a fixed rule, and wherever a shuffle
moves documents they are hash-partitioned by ``doc_id`` and sorted by it.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shardvec.config import Config, PrepareConfig
from shardvec.corpus import Vocab
from shardvec.errors import InputError
from shardvec.logs import stage_logger
from shardvec.readers import InputLocation, ReaderSettings
from shardvec.readers.fs import COMPRESSED_MAGIC, filesystem_for
from shardvec.spark.dedup import MINHASH_SEED, apply_dedup
from shardvec.spark.phrases import apply_phrases
from shardvec.spark.records import (LINEAGE, LINEAGE_SCHEMA, RECORD_DDL, TIMING, Step, chain, clean_step,
                                    group_paths_step, lineage_step, read_step, spill_step, tally_step, timed,
                                    tokenize_step, word_counts_path)
from shardvec.spark.shards import block_size, place_parts, write_balanced_shards
from shardvec.text.clean import CleanSettings
from shardvec.text.dedup import lsh_params
from shardvec.text.quality import QualitySettings
from shardvec.text.tokenize import TokenizerSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = stage_logger(__name__, "prepare")

# Rows collected to the driver, as dicts.
Rows = list[dict[str, Any]]

# Below this many input bytes, skewed files are not worth a shuffle.
_REBALANCE_MIN_BYTES = 8 << 20
_COMPRESSION_RATIO = 4
# The compressions the readers decode (they go by the magic bytes), by their usual suffixes; files under
# _SNIFF_MIN_BYTES are judged by these alone when they are balanced over the tasks.
_COMPRESSED_SUFFIXES = (".gz", ".gzip", ".tgz", ".bz2", ".xz", ".txz", ".zst", ".zstd")
_SNIFF_MIN_BYTES = 1 << 20
# Up to this many bytes of per-task word counts, the driver sums them (see build_vocab).
_DRIVER_SUM_BYTES = 64 << 20
# Up to this much estimated input work, a run without joins or shuffles may have its JVM compile with C1 alone
# (small_rows_only): its per-task word counts stay far below _DRIVER_SUM_BYTES (13 MB for the prepare bench's
# 100 MB), and on longer runs the optimizing compiler's fixed cost matters less.
_QUICK_JIT_MAX_BYTES = 512 << 20


def reader_settings(prepare: PrepareConfig, storage_options: dict[str, Any]) -> ReaderSettings:
    """The readers' settings, storage options included: the executors read remote inputs themselves."""
    return ReaderSettings(format=prepare.format, text_field=prepare.text_field, id_field=prepare.id_field,
                          url_field=prepare.url_field, date_field=prepare.date_field,
                          text_document=prepare.text_document, max_record_bytes=prepare.max_record_bytes,
                          storage_options=storage_options)


def clean_settings(prepare: PrepareConfig) -> CleanSettings:
    rules = prepare.quality
    quality = QualitySettings(
        min_words=rules.min_doc_words, max_words=rules.max_doc_words,
        min_mean_word_length=rules.min_mean_word_length, max_mean_word_length=rules.max_mean_word_length,
        max_symbol_word_ratio=rules.max_symbol_word_ratio, min_alpha_word_share=rules.min_alpha_word_share,
        min_stop_words=rules.min_stop_words, max_ellipsis_line_share=rules.max_ellipsis_line_share)
    return CleanSettings(fix_mojibake=prepare.fix_mojibake, quality=quality if rules.enabled else None,
                         languages=tuple(prepare.languages), min_language_score=prepare.min_language_score,
                         mask_pii=tuple(prepare.mask_pii))


def tokenizer_settings(prepare: PrepareConfig) -> TokenizerSettings:
    return TokenizerSettings(lowercase=prepare.lowercase, min_sentence_tokens=prepare.min_sentence_tokens,
                             max_sentence_length=prepare.max_sentence_length, fold_numbers=prepare.fold_numbers)


class _Timer:
    """Stage-level progress lines and the seconds of each stage for the manifest."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str, message: str) -> Iterator[None]:
        log.info(f"{message} ...")
        started = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - started, 2)
        log.info(f"{message}: done in {self.seconds[name]:.1f}s")


def _work_estimate(path: str, storage_options: dict[str, Any]) -> int:
    """Bytes to process, roughly: compressed text expands about four times.

    Runs on the driver for every file, so a file is opened to look at its
    magic bytes (one small ranged read on object stores) only where a
    wrong guess would unbalance the tasks: at :data:`_SNIFF_MIN_BYTES` or
    more, and with no compressed suffix. A smaller file is judged by its
    name; opening each of the prepare bench's 4,815 files took the driver
    0.05 s before any task could start, and on an object store each is a
    request.
    """
    fs = filesystem_for(path, storage_options)
    size = max(fs.size(path), 1)
    compressed = path.lower().endswith(_COMPRESSED_SUFFIXES) or (
        size >= _SNIFF_MIN_BYTES and fs.head(path, 4).startswith(COMPRESSED_MAGIC))
    return size * (_COMPRESSION_RATIO if compressed else 1)


@dataclass(frozen=True)
class FileGroups:
    """The input files in groups balanced by estimated work, one Spark partition per group.

    ``frame`` holds each group's number alone in its partition (``range``
    puts row ``i`` in partition ``i``), and ``paths_step``, the first step of the
    pass that reads them, turns a group's number into its files' paths. Why
    not a frame of the paths themselves: made from a Python RDD (or a local
    list, which PySpark sends through one), it ran in Spark's pool of Python
    workers for RDDs, which is not the pool that runs ``mapInArrow``, so every
    task held two workers and a run started twice as many, each importing the
    steps anew (about a core-second each).
    """

    frame: DataFrame
    listing: Any  # the groups of paths, a Spark broadcast: destroyed once the run is done, or has failed
    balanced: bool  # whether the groups can keep every core equally busy

    @property
    def paths_step(self) -> Step:
        return group_paths_step(self.listing)


def input_work(files: list[str], storage_options: dict[str, Any]) -> dict[str, int]:
    """Each file once, in order, with its estimated work (:func:`_work_estimate`): what the tasks are
    balanced by (:func:`file_groups`) and the JVM's compiler chosen by (:func:`small_rows_only`), estimated
    once for both (on an object store, a request per file)."""
    return {path: _work_estimate(path, storage_options) for path in sorted(set(files))}


def file_groups(spark: SparkSession, work: dict[str, int]) -> FileGroups:
    """The files of ``work`` (:func:`input_work`) in groups, the largest first (:func:`group_files`), one
    Spark partition each."""
    groups, balanced = group_files(work, spark.sparkContext.defaultParallelism)
    return FileGroups(spark.range(len(groups), numPartitions=len(groups)), spark.sparkContext.broadcast(groups),
                      balanced)


def group_files(work: dict[str, int], parallelism: int) -> tuple[list[list[str]], bool]:
    """The files of ``work`` (:func:`input_work`) in up to four groups per core, balanced by estimated
    work, and whether they are balanced: false where a file bigger than one core's share (a dictionary, a
    dump) cannot be split across tasks, so its documents are then spread over all tasks after reading."""
    n_groups = max(1, min(len(work), parallelism * 4))
    groups: list[list[str]] = [[] for _ in range(n_groups)]
    loads = [0] * n_groups
    for path in sorted(work, key=lambda p: (-work[p], p)):
        i = loads.index(min(loads))
        groups[i].append(path)
        loads[i] += work[path]
    total = sum(loads)
    return groups, total < _REBALANCE_MIN_BYTES or max(loads) <= 1.1 * total / parallelism


def small_rows_only(prepare: PrepareConfig, work: dict[str, int], parallelism: int) -> bool:
    """Whether a run over ``work`` (:func:`input_work`) at ``parallelism`` has the JVM move only small rows:
    no dedup (joins), no phrases (counts of bigrams), inputs balanced without a shuffle (:func:`group_files`),
    and small enough that the driver sums the vocabulary (:data:`_QUICK_JIT_MAX_BYTES`). Such a JVM needs no
    optimizing compiler (``spark.jit``)."""
    if prepare.dedup.modes or prepare.phrase_passes:
        return False
    return sum(work.values()) <= _QUICK_JIT_MAX_BYTES and group_files(work, parallelism)[1]


def run_prepare(spark: SparkSession, config: Config, locations: list[InputLocation], work: dict[str, int],
                staging: Path) -> dict[str, Any]:
    """Write shards, vocabulary and lineage under ``staging`` from the files of ``work`` (:func:`input_work`
    of :func:`input_files`); return the manifest's body."""
    files = list(work)
    with _broadcasts_by_measured_size(spark):
        groups = file_groups(spark, work)
        try:
            return _run_prepare(spark, config, locations, files, groups, staging)
        finally:
            groups.listing.destroy()


@contextmanager
def _broadcasts_by_measured_size(spark: SparkSession) -> Iterator[None]:
    """While prepare runs, Spark broadcasts a join's side only when it has measured it small (adaptive
    execution, after a shuffle), never on its planner's estimate.

    Why: the planner sizes a frame by its source, and prepare's source is a
    ``range`` of a few dozen group numbers (:class:`FileGroups`), each of which
    becomes thousands of documents: estimated at a few hundred bytes, dedup's
    frames were broadcast whole, out of the driver's memory on 25 MB of short
    documents. The adaptive threshold keeps the value it had; both are put back.
    """
    static, adaptive = "spark.sql.autoBroadcastJoinThreshold", "spark.sql.adaptive.autoBroadcastJoinThreshold"
    saved = {key: spark.conf.get(key, None) for key in (static, adaptive)}
    try:
        spark.conf.set(adaptive, saved[adaptive] or str(spark.conf.get(static)))
        spark.conf.set(static, "-1")
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _run_prepare(spark: SparkSession, config: Config, locations: list[InputLocation], files: list[str],
                 groups: FileGroups, staging: Path) -> dict[str, Any]:
    """:func:`run_prepare`'s work. Each ``timer.stage`` is one pair of progress lines and one entry of the
    manifest's ``timings``."""
    prepare, options = config.prepare, config.storage.options
    timer = _Timer()
    parts_dir, lineage_dir = staging / "_parts", staging / "_lineage"
    parts_dir.mkdir()
    lineage_dir.mkdir()
    with timer.stage("read_clean_tokenize", f"reading, cleaning and tokenizing {len(files)} file(s)"):
        records, rows = _read_clean_tokenize(spark, prepare, options, groups,
                                             _after_cleaning(prepare, parts_dir, lineage_dir))
    file_rows, fates = rows["file"], rows["doc"] + rows["drop"]
    _check_inputs(file_rows, prepare.fail_on_bad_input)
    phrases_found: list[int] = []
    if prepare.phrase_passes:
        with timer.stage("phrases", f"finding phrases ({prepare.phrase_passes} pass(es))"):
            records, phrases_found = _join_phrases(spark, records, prepare, parts_dir)
        # The part files, timings and lineage files of the final pass.
        rows = _small_rows(records, _moved(prepare, groups))

    parts, total = place_parts([(r["partition"], r["source"], r["count"]) for r in rows["part"]])
    n_shards = prepare.shards or spark.sparkContext.defaultParallelism
    block = block_size(total, n_shards)
    # The vocabulary is summed while the shard tasks run: it needs only the word counts spilled beside the
    # part files, and one after the other the executors waited for the driver's sum.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shardvec-vocab") as beside:
        counted = beside.submit(_write_vocab, timer, spark, [word_counts_path(part.path) for part in parts],
                                config, staging)
        with timer.stage("shards", f"dealing the sentences to {n_shards} shard(s), {block} tokens at a time"):
            shards, shard_seconds = write_balanced_shards(spark, parts, block, n_shards, staging)
        vocab = counted.result()
    shutil.rmtree(parts_dir)
    lineage = None
    if prepare.lineage:
        with timer.stage("lineage", "gathering the tasks' lineage files"):
            lineage = write_lineage(rows[LINEAGE], staging)
    shutil.rmtree(lineage_dir)
    cpu_seconds = {**{r["reason"]: r["count"] / 1e6 for r in rows[TIMING]}, "shards": shard_seconds}
    records.unpersist()

    body = account(file_rows, fates, shards, vocab)
    body["shard_block_tokens"] = block
    body["input_locations"] = [{"location": location.location, "files": len(location.files)}
                               for location in locations]
    body.update(_optional_sections(prepare, lineage, phrases_found))
    body["timings"] = timer.seconds
    body["throughput"] = throughput(cpu_seconds, sum(filesystem_for(f, options).size(f) for f in files))
    return body


def _write_vocab(timer: _Timer, spark: SparkSession, word_files: list[str], config: Config, staging: Path) -> Vocab:
    """``staging/vocab.tsv`` summed from the tasks' word counts (:func:`build_vocab`); the vocabulary."""
    with timer.stage("vocab", "counting the vocabulary"):
        vocab = build_vocab(spark, word_files, config.vocab.min_count, config.vocab.max_vocab_size)
        vocab.write(staging)
    return vocab


def input_files(locations: list[InputLocation]) -> list[str]:
    """Every input file once, sorted; a location that holds none is said, not refused."""
    for location in locations:
        if not location.files:
            log.warning(f"warning: input {location.location} holds no files")
    return sorted({f for location in locations for f in location.files})


def _read_clean_tokenize(spark: SparkSession, prepare: PrepareConfig, options: dict[str, Any], groups: FileGroups,
                         after_cleaning: list[Step]) -> tuple[DataFrame, dict[str, Rows]]:
    """The records of one pass over the input (``after_cleaning``'s steps last) and their small rows
    (:func:`_small_rows`); the records are persisted only where phrases read them again.

    Without dedup, reading, cleaning and tokenizing run as one Python pass;
    dedup needs the JVM between cleaning and tokenizing, and skewed inputs a
    shuffle after reading.
    """
    from pyspark import StorageLevel

    # Each line's path and id only where something reads them: the lineage, dedup or the spread's shuffle.
    line_ids = bool(prepare.lineage or _moved(prepare, groups))
    read = timed("read", read_step(reader_settings(prepare, options), line_ids))
    clean = timed("clean", clean_step(clean_settings(prepare), "exact" in prepare.dedup.modes))
    frame, pending = groups.frame, [groups.paths_step, read, clean]
    if not groups.balanced:
        log.info("input sizes are skewed: spreading documents over all tasks after reading")
        frame, pending = _spread(spark, groups.frame.mapInArrow(chain(groups.paths_step, read), RECORD_DDL)), [clean]
    cached: list[DataFrame] = []
    if prepare.dedup.modes:
        frame, cached = _deduplicate(frame.mapInArrow(chain(*pending), RECORD_DDL), prepare)
        pending = []
    records = frame.mapInArrow(chain(*pending, *after_cleaning), RECORD_DDL)
    if prepare.phrase_passes:
        records = records.persist(StorageLevel.MEMORY_AND_DISK)
    rows = _small_rows(records, _moved(prepare, groups))
    for cached_frame in cached:
        cached_frame.unpersist()
    return records, rows


def _moved(prepare: PrepareConfig, groups: FileGroups) -> bool:
    """Whether a shuffle moves documents between tasks after reading: dedup, or the spread of skewed inputs."""
    return bool(prepare.dedup.modes) or not groups.balanced


def _spread(spark: SparkSession, documents: DataFrame) -> DataFrame:
    """``documents`` hash-partitioned by ``doc_id`` over all tasks and sorted by it, so that the order the
    shards follow stays deterministic while no big file keeps one core busy alone."""
    return (documents.repartition(2 * spark.sparkContext.defaultParallelism, "doc_id")
            .sortWithinPartitions("doc_id"))


def _deduplicate(documents: DataFrame, prepare: PrepareConfig) -> tuple[DataFrame, list[DataFrame]]:
    """``documents`` with duplicates dropped, sorted by ``doc_id`` within partitions (the dedup shuffles
    moved them), and the frames dedup cached, to release once the result is materialized.

    ``documents`` itself stays cached, as it always has: when it was
    released too, Spark recompiled the plans cached on top of it and the
    dedup test's shards were cut at other places.
    """
    from pyspark import StorageLevel

    documents = documents.persist(StorageLevel.MEMORY_AND_DISK)
    dedup = prepare.dedup
    kept, cached = apply_dedup(documents, dedup.modes, dedup.near_dup_threshold, dedup.minhash_perm,
                               dedup.minhash_ngram)
    return kept.sortWithinPartitions("doc_id"), [kept, *cached]


def _after_cleaning(prepare: PrepareConfig, parts_dir: Path, lineage_dir: Path) -> list[Step]:
    """Tokenizing, then the steps that reduce what the JVM holds.

    The sentences are spilled to part files where they are made, unless
    phrases need them in Spark to count bigrams; each record's fate is final
    after tokenizing, so the lineage is written there too and only the
    records' sums go on.
    """
    steps = [timed("tokenize", tokenize_step(tokenizer_settings(prepare)))]
    if not prepare.phrase_passes:
        steps.append(_spill(parts_dir))
    if prepare.lineage:
        steps.append(timed("lineage", lineage_step(str(lineage_dir.resolve()))))
    return [*steps, tally_step()]


def _spill(parts_dir: Path) -> Step:
    return timed("count_and_spill", spill_step(str(parts_dir.resolve())))


def _small_rows(records: DataFrame, moved: bool) -> dict[str, Rows]:
    """Every row but documents' text and sentences, by kind, in one job: the files and the fates summed
    per file and reason (the accounting), the part files, each step's CPU time summed over the tasks, the
    lineage files.

    Why one job: each Spark job costs the JVM its planning and scheduling
    whatever its size; one collect replaced three. Why Arrow: the driver
    built Spark ``Row`` objects one by one (a tenth of a core-second per 100
    MB of the benchmark's small files). Why the driver sums the tasks' rows
    unless documents ``moved`` (a shuffle spread them over tasks: dedup, or
    skewed inputs): each file's records are then in the one task that read
    it, which has summed them (:func:`~shardvec.spark.records.tally_step`),
    so Spark's group-by would merge little but the steps' timings, and its
    shuffle and second stage cost the JVM more than the whole collect (a
    first run 1.9-3.2 core-seconds more, ``bench/RESULTS.md``). Where documents
    moved, a file's rows come from every task, and Spark sums them first.
    """
    from pyspark.sql import functions as F

    kinds = ("file", "doc", "drop", "part", TIMING, LINEAGE)
    keys = ["kind", "source", "reason", "status", "records", "format", "error", "partition"]
    small = records.where(f"kind in ({', '.join(repr(kind) for kind in kinds)})")
    if moved:
        small = small.groupBy(*keys).agg(F.sum("count").alias("count"))
    summed = small.select(*keys, "count").toArrow().group_by(keys, use_threads=False).aggregate([("count", "sum")])
    rows: dict[str, Rows] = {kind: [] for kind in kinds}
    for row in pa.table({**{key: summed[key] for key in keys}, "count": summed["count_sum"]}).to_pylist():
        rows[row["kind"]].append(row)
    return rows


def _join_phrases(spark: SparkSession, records: DataFrame, prepare: PrepareConfig,
                  parts_dir: Path) -> tuple[DataFrame, list[int]]:
    """The word2phrase passes, then the joined sentences spilled to part files; the phrases found per pass."""
    from pyspark import StorageLevel

    records, found = apply_phrases(spark, records, prepare.phrase_passes, prepare.phrase_threshold,
                                   prepare.phrase_min_count)
    spilled = records.mapInArrow(chain(_spill(parts_dir)), RECORD_DDL).persist(StorageLevel.MEMORY_AND_DISK)
    spilled.count()
    records.unpersist()
    return spilled, found


def _optional_sections(prepare: PrepareConfig, lineage: dict[str, Any] | None,
                       phrases_found: list[int]) -> dict[str, Any]:
    """The manifest's sections of the optional steps that ran: lineage, dedup, phrases."""
    sections: dict[str, Any] = {}
    if lineage:
        sections["lineage"] = lineage
    dedup = prepare.dedup
    if dedup.modes:
        bands, rows = lsh_params(dedup.near_dup_threshold, dedup.minhash_perm)
        sections["dedup"] = {"modes": list(dedup.modes), "near_dup_threshold": dedup.near_dup_threshold,
                             "minhash_perm": dedup.minhash_perm, "minhash_ngram": dedup.minhash_ngram,
                             "lsh_bands": bands, "lsh_rows": rows, "minhash_seed": MINHASH_SEED}
    if prepare.phrase_passes:
        sections["phrases"] = {"passes": prepare.phrase_passes, "found_per_pass": phrases_found}
    return sections


# The Python steps in the order the data meets them.
STEP_ORDER = ("read", "clean", "tokenize", "count_and_spill", "lineage", "shards")


def throughput(cpu_seconds: dict[str, float], input_bytes: int) -> dict[str, Any]:
    """Each step's CPU seconds summed over its tasks, and MB of input (as stored) per second per core.

    Per core, so the figure is the same on 2 cores or 2,000 (what a step costs, not how many ran it);
    one over the sum of the steps' 1 / rate is the whole chain's rate per core.
    """
    mb = input_bytes / 2 ** 20
    steps = {name: {"cpu_seconds": round(cpu_seconds[name], 3),
                    "mb_per_s_per_core": round(mb / cpu_seconds[name], 2) if cpu_seconds[name] > 0 else None}
             for name in sorted(cpu_seconds, key=lambda n: (STEP_ORDER.index(n) if n in STEP_ORDER else 99, n))}
    return {"input_mb": round(mb, 3), "steps": steps}


def _check_inputs(file_rows: Rows, fail_on_bad_input: bool) -> None:
    bad = [r for r in file_rows if r["status"] != "ok"]
    for r in bad:
        log.warning(f"damaged input {r['source']}: {r['status']} after {r['records']} record(s): {r['error']}")
    if bad and fail_on_bad_input:
        raise InputError(f"{len(bad)} damaged input file(s), first: {bad[0]['source']} ({bad[0]['error']}); "
                         "rerun without --fail-on-bad-input to skip and report them")


def build_vocab(spark: SparkSession, word_files: list[str], min_count: int, max_vocab_size: int) -> Vocab:
    """Sum the per-task word counts that :func:`~shardvec.spark.records.spill_step` wrote.

    Spark sums them when they are large; up to ``_DRIVER_SUM_BYTES`` of
    counts, the driver does, with Arrow: a Spark job's scheduling and
    shuffle cost more than the sum itself there (about a second on the
    benchmark's 100 MB). Either way the driver orders the result, which it
    holds anyway: a Spark sort would cost a sampling job and a second
    shuffle. Strings order by their UTF-8 bytes, as Spark orders them.
    """
    if not word_files:
        return Vocab.from_pairs([])
    if sum(os.path.getsize(f) for f in word_files) <= _DRIVER_SUM_BYTES:
        counts = (pa.concat_tables([pq.read_table(f) for f in word_files])
                  .group_by("word", use_threads=False).aggregate([("count", "sum")])
                  .rename_columns(["word", "count"]))
        counts = counts.filter(pc.greater_equal(counts["count"], min_count))
    else:
        from pyspark.sql import functions as F

        counts = (spark.read.parquet(*[Path(f).as_uri() for f in word_files]).groupBy("word")
                  .agg(F.sum("count").alias("count")).where(F.col("count") >= min_count).toArrow())
    order = pc.sort_indices(counts, [("count", "descending"), ("word", "ascending")])
    if max_vocab_size:
        order = order[:max_vocab_size]
    return Vocab.from_table(counts.select(["word", "count"]).take(order))


def write_lineage(lineage_rows: Rows, staging: Path) -> dict[str, Any]:
    """``lineage/part-NNNNN.parquet``: each record's id, source, own id, url, date and drop reason (null
    when kept), the files the tasks wrote (:func:`~shardvec.spark.records.lineage_step`, one ``lineage``
    row each) in task order. The manifest holds the counts; this holds the detail."""
    files = sorted((r["partition"], r["source"]) for r in lineage_rows)
    out = staging / "lineage"
    out.mkdir()
    for i, (_, path) in enumerate(files):
        Path(path).rename(out / f"part-{i:05d}.parquet")
    if not files:  # no record at all: one empty part, so that the lineage still reads as a table
        pq.write_table(LINEAGE_SCHEMA.empty_table(), out / "part-00000.parquet")
    return {"path": "lineage", "files": max(len(files), 1), "columns": LINEAGE_SCHEMA.names}


def account(file_rows: Rows, fates: Rows, shards: Rows, vocab: Vocab) -> dict[str, Any]:
    """Per-file and per-reason record counts; checks that nothing went missing."""
    kept_by_source: dict[str, int] = {}
    dropped_by_source: dict[str, dict[str, int]] = {}
    for row in fates:
        if row["kind"] == "doc":
            kept_by_source[row["source"]] = kept_by_source.get(row["source"], 0) + int(row["count"])
        else:
            dropped_by_source.setdefault(row["source"], {})[row["reason"]] = int(row["count"])
    inputs = []
    for row in sorted(file_rows, key=lambda r: r["source"]):
        dropped = dict(sorted(dropped_by_source.get(row["source"], {}).items()))
        kept = kept_by_source.get(row["source"], 0)
        entry = {"path": row["source"], "format": row["format"], "status": row["status"],
                 "records": int(row["records"]), "kept": kept, "dropped": dropped}
        if row["error"]:
            entry["error"] = row["error"]
        if kept + sum(dropped.values()) != entry["records"]:
            raise RuntimeError(f"record accounting failed for {row['source']}: {entry}")
        inputs.append(entry)
    reasons: dict[str, int] = {}
    for entry in inputs:
        for reason, n in entry["dropped"].items():
            reasons[reason] = reasons.get(reason, 0) + n
    records = {"in": sum(e["records"] for e in inputs), "kept": sum(e["kept"] for e in inputs),
               "dropped": dict(sorted(reasons.items()))}
    if records["in"] != records["kept"] + sum(reasons.values()):
        raise RuntimeError(f"record accounting failed: {records}")
    return {
        "inputs": inputs,
        "records": records,
        "sentences": sum(s["sentences"] for s in shards),
        "tokens": sum(s["tokens"] for s in shards),
        "shards": shards,
        "vocab": {"size": len(vocab), "tokens_in_vocab": int(vocab.counts.sum())},
    }

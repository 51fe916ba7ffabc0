"""The prepare stage on Spark: files -> documents -> sentences -> vocab + shards.

Spark only distributes; what happens to each file, document and sentence is
shardvec's core (:mod:`shardvec.readers`, :mod:`shardvec.text`), applied to
whole Arrow batches with ``mapInArrow``, never a row-at-a-time UDF.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from shardvec.config import Config
from shardvec.corpus import SHARD_SCHEMA, Vocab
from shardvec.errors import InputError
from shardvec.readers import Document, Dropped, FileStatus, ReaderSettings, read_file
from shardvec.text.normalize import normalize_text
from shardvec.text.tokenize import TokenizerSettings, sentences_from_text

EVENT_SCHEMA = pa.schema([
    ("kind", pa.string()), ("source", pa.string()), ("doc_id", pa.string()), ("text", pa.string()),
    ("reason", pa.string()), ("status", pa.string()), ("records", pa.int64()),
    ("format", pa.string()), ("error", pa.string()),
])
SENTENCE_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("source", pa.string()), ("sent_idx", pa.int32()),
    ("tokens", pa.list_(pa.string())),
])
# The same schemas as Spark DDL, which mapInArrow takes.
EVENT_DDL = ("kind string, source string, doc_id string, text string, reason string, status string, "
             "records long, format string, error string")
SENTENCE_DDL = "doc_id string, source string, sent_idx int, tokens array<string>"
_BATCH = 2048
# A document that yields no sentence of at least min_sentence_tokens tokens.
NO_SENTENCES = "no_sentences"


def _log(message: str) -> None:
    print(f"[prepare] {message}", file=sys.stderr, flush=True)


def _event_row(event: Document | Dropped | FileStatus) -> dict[str, Any]:
    if isinstance(event, Document):
        return {"kind": "doc", "source": event.source, "doc_id": event.id, "text": event.text}
    if isinstance(event, Dropped):
        return {"kind": "drop", "source": event.source, "reason": event.reason}
    return {"kind": "file", "source": event.source, "status": event.status, "records": event.records,
            "format": event.format, "error": event.error}


def read_events(settings: ReaderSettings):
    """mapInArrow function: each input row names a file; emit its events in batches."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows: list[dict[str, Any]] = []
        for batch in batches:
            for path in batch.column("path").to_pylist():
                for event in read_file(Path(path), settings):
                    rows.append(_event_row(event))
                    if len(rows) >= _BATCH:
                        yield pa.RecordBatch.from_pylist(rows, schema=EVENT_SCHEMA)
                        rows = []
        if rows:
            yield pa.RecordBatch.from_pylist(rows, schema=EVENT_SCHEMA)

    return run


def tokenize_documents(settings: TokenizerSettings):
    """mapInArrow function: documents -> one row per sentence.

    A document with no usable sentence yields one row with ``sent_idx = -1``
    and null tokens, so the accounting can count it as dropped.
    """

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            ids, sources, idxs, tokens = [], [], [], []
            for doc_id, source, text in zip(batch.column("doc_id").to_pylist(), batch.column("source").to_pylist(),
                                            batch.column("text").to_pylist()):
                n = 0
                for n, sentence in enumerate(sentences_from_text(normalize_text(text), settings), start=1):
                    ids.append(doc_id), sources.append(source), idxs.append(n - 1), tokens.append(sentence)
                if n == 0:
                    ids.append(doc_id), sources.append(source), idxs.append(-1), tokens.append(None)
            yield pa.RecordBatch.from_arrays(
                [pa.array(ids, pa.string()), pa.array(sources, pa.string()), pa.array(idxs, pa.int32()),
                 pa.array(tokens, pa.list_(pa.string()))], schema=SENTENCE_SCHEMA)

    return run


def _file_frame(spark, files: list[Path]):
    """One partition per group of files, groups balanced by size (largest first)."""
    parallelism = spark.sparkContext.defaultParallelism
    n_groups = max(1, min(len(files), parallelism * 2))
    groups: list[list[str]] = [[] for _ in range(n_groups)]
    loads = [0] * n_groups
    for path in sorted(files, key=lambda p: (-p.stat().st_size, str(p))):
        i = loads.index(min(loads))
        groups[i].append(str(path))
        loads[i] += max(path.stat().st_size, 1)
    rdd = spark.sparkContext.parallelize(groups, n_groups).flatMap(lambda group: [(p,) for p in group])
    return spark.createDataFrame(rdd, "path string")


def run_prepare(spark, config: Config, files: list[Path], staging: Path) -> dict[str, Any]:
    """Write shards and vocabulary under ``staging``; return the manifest's body."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    prep = config.prepare
    reader = ReaderSettings(format=prep.format, text_field=prep.text_field)
    tokenizer = TokenizerSettings(prep.lowercase, prep.min_sentence_tokens, prep.max_sentence_length)

    _log(f"reading {len(files)} file(s)")
    events = _file_frame(spark, files).mapInArrow(read_events(reader), EVENT_DDL).persist(
        StorageLevel.MEMORY_AND_DISK)
    file_rows = [r.asDict() for r in events.where("kind = 'file'").select(
        "source", "status", "records", "format", "error").collect()]
    bad = [r for r in file_rows if r["status"] != "ok"]
    for r in bad:
        _log(f"damaged input {r['source']}: {r['status']} after {r['records']} record(s): {r['error']}")
    if bad and prep.fail_on_bad_input:
        raise InputError(f"{len(bad)} damaged input file(s), first: {bad[0]['source']} ({bad[0]['error']}); "
                         "rerun without --fail-on-bad-input to skip and report them")

    _log("cleaning and tokenizing")
    sentences = (events.where("kind = 'doc'").select("doc_id", "source", "text")
                 .mapInArrow(tokenize_documents(tokenizer), SENTENCE_DDL)
                 .persist(StorageLevel.MEMORY_AND_DISK))
    kept_by_source = {r["source"]: r["n"] for r in sentences.where("sent_idx = 0").groupBy("source")
                      .agg(F.count("*").alias("n")).collect()}
    drop_rows = (events.where("kind = 'drop'").select("source", "reason")
                 .unionByName(sentences.where("sent_idx = -1").select("source", F.lit(NO_SENTENCES).alias("reason")))
                 .groupBy("source", "reason").count().collect())
    good = sentences.where("sent_idx >= 0")

    _log("counting the vocabulary")
    vocab = build_vocab(good, config.vocab.min_count, config.vocab.max_vocab_size)
    vocab.write(staging)

    n_shards = prep.shards or spark.sparkContext.defaultParallelism
    _log(f"writing {n_shards} shard(s)")
    shards = write_shards(good, n_shards, staging)

    events.unpersist()
    sentences.unpersist()
    return account(file_rows, kept_by_source, drop_rows, shards, vocab)


def build_vocab(sentences, min_count: int, max_vocab_size: int) -> Vocab:
    from pyspark.sql import functions as F

    counts = (sentences.select(F.explode("tokens").alias("word")).groupBy("word").count()
              .where(F.col("count") >= min_count).orderBy(F.desc("count"), F.asc("word")))
    if max_vocab_size:
        counts = counts.limit(max_vocab_size)
    return Vocab.from_table(counts.toArrow())


def write_shards(sentences, n_shards: int, staging: Path) -> list[dict[str, Any]]:
    """Hash sentences into ``n_shards`` Parquet files, sorted within each for determinism."""
    from pyspark.sql import functions as F

    tmp = staging / "_shards_tmp"
    keyed = sentences.withColumn("shard", F.pmod(F.xxhash64("doc_id", "sent_idx"), F.lit(n_shards)))
    (keyed.repartition(n_shards, "shard").sortWithinPartitions("shard", "doc_id", "sent_idx")
     .select("shard", "tokens").write.partitionBy("shard").parquet(str(tmp)))
    stats = {r["shard"]: (r["sentences"], r["tokens"]) for r in keyed.groupBy("shard").agg(
        F.count("*").alias("sentences"), F.sum(F.size("tokens")).alias("tokens")).collect()}
    out = staging / "shards"
    out.mkdir()
    shards = []
    for k in range(n_shards):
        name = f"shard-{k:05d}.parquet"
        parts = sorted((tmp / f"shard={k}").glob("*.parquet")) if (tmp / f"shard={k}").exists() else []
        if len(parts) > 1:
            raise RuntimeError(f"shard {k} was written as {len(parts)} files; expected one")
        if parts:
            os.replace(parts[0], out / name)
        else:
            pq.write_table(pa.table({"tokens": pa.array([], pa.list_(pa.string()))}, schema=SHARD_SCHEMA),
                           out / name)
        n_sent, n_tok = stats.get(k, (0, 0))
        shards.append({"file": name, "sentences": int(n_sent), "tokens": int(n_tok or 0)})
    shutil.rmtree(tmp)
    return shards


def account(file_rows: list[dict[str, Any]], kept_by_source: dict[str, int], drop_rows: list,
            shards: list[dict[str, Any]], vocab: Vocab) -> dict[str, Any]:
    """Per-file and per-reason record counts; checks that nothing went missing."""
    dropped_by_source: dict[str, dict[str, int]] = {}
    for row in drop_rows:
        dropped_by_source.setdefault(row["source"], {})[row["reason"]] = int(row["count"])
    inputs = []
    for row in sorted(file_rows, key=lambda r: r["source"]):
        dropped = dropped_by_source.get(row["source"], {})
        kept = int(kept_by_source.get(row["source"], 0))
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
    assert records["in"] == records["kept"] + sum(reasons.values())
    return {
        "inputs": inputs,
        "records": records,
        "sentences": sum(s["sentences"] for s in shards),
        "tokens": sum(s["tokens"] for s in shards),
        "shards": shards,
        "vocab": {"size": len(vocab), "tokens_in_vocab": int(vocab.counts.sum())},
    }

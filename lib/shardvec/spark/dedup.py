"""Deduplication distributed by Spark; the rules are :mod:`shardvec.text.dedup`.

Every function takes and returns DataFrames of the record schema. The driver
collects only near dedup's verified pairs, and only when there are few
(:data:`DRIVER_MAX_ID_BYTES`): its connected components are then one pass of
union-find instead of some forty Spark jobs. Duplicates become ``drop`` rows
with reason ``exact_duplicate``, ``near_duplicate`` or ``duplicate_lines``;
the representative kept of a group is the longest document, ties broken by
the smallest ``doc_id``.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shardvec.logs import stage_logger
from shardvec.spark.records import RECORD_SCHEMA, chain, conform, replace
from shardvec.text.dedup import band_keys, line_keys, lsh_params, minhashes, remove_lines, smallest_members

log = stage_logger(__name__, "prepare")

EXACT = "exact_duplicate"
NEAR = "near_duplicate"
LINES = "duplicate_lines"
MINHASH_SEED = 1
_SIGNATURE_DDL = "doc_id string, length long, signature array<long>, bands array<long>"
_LINES_DDL = "doc_id string, line_idx int, line_key long"
# Verified near-duplicate pairs whose ids take up to this many bytes are joined into components on the driver:
# in Python objects they take about four times that (200,000 pairs of 75-byte ids, 28 MB: 114 MB more resident
# memory, 1.3 s of union-find), where each round of the distributed loop is several Spark jobs (near dedup of
# 100 MB of web pages, 13 pairs: about 60 jobs, most of them rounds). Bytes, not pairs: ids hold file paths.
DRIVER_MAX_ID_BYTES = 64 * 2 ** 20


def _representative_window(group_col: str):  # type: ignore[no-untyped-def]
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    return Window.partitionBy(group_col).orderBy(F.desc("length"), F.asc("doc_id"))


def mark_dropped(records, dropped, reason: str):  # type: ignore[no-untyped-def]
    """Turn the documents listed in ``dropped`` (column doc_id) into drop rows with ``reason``."""
    from pyspark.sql import functions as F

    flagged = records.join(dropped.select("doc_id", F.lit(True).alias("_dup")), "doc_id", "left")
    hit = F.col("_dup").isNotNull() & (F.col("kind") == "doc")
    return flagged.select(*[
        F.when(hit, F.lit(reason)).otherwise(F.col("reason")).alias("reason") if name == "reason"
        else F.when(hit, F.lit("drop")).otherwise(F.col("kind")).alias("kind") if name == "kind"
        else F.when(hit, F.lit(None)).otherwise(F.col("text")).alias("text") if name == "text"
        else F.col(name) for name in RECORD_SCHEMA.names])


def exact_duplicates(records):  # type: ignore[no-untyped-def]
    """Documents whose normalized text (``exact_key``) another, preferred document shares."""
    from pyspark.sql import functions as F

    docs = records.where("kind = 'doc'").select("doc_id", "exact_key", F.length("text").alias("length"))
    ranked = docs.withColumn("rank", F.row_number().over(_representative_window("exact_key")))
    return ranked.where("rank > 1").select("doc_id")


def _signature_step(num_perm: int, ngram: int, bands: int, rows: int):  # type: ignore[no-untyped-def]
    schema = pa.schema([("doc_id", pa.string()), ("length", pa.int64()), ("signature", pa.list_(pa.int64())),
                        ("bands", pa.list_(pa.int64()))])

    def rows_of(matrix: np.ndarray) -> pa.ListArray:
        """A matrix as a list array of its rows, from its buffer (no Python list per row)."""
        offsets = np.arange(0, matrix.size + 1, matrix.shape[1], dtype=np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(matrix.ravel()))

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            signatures = minhashes(batch.column("text").to_pylist(), num_perm, ngram, MINHASH_SEED)
            lengths = pc.utf8_length(batch.column("text")).cast(pa.int64())
            keys = band_keys(signatures, bands, rows)
            yield pa.RecordBatch.from_arrays(
                [batch.column("doc_id").cast(pa.string()), lengths, rows_of(signatures), rows_of(keys)], schema=schema)

    return run


def near_duplicates(records, threshold: float, num_perm: int, ngram: int):  # type: ignore[no-untyped-def]
    """Documents in a MinHash-LSH cluster whose representative is another document.

    Candidates share a band key; each is linked to the smallest id of its
    bucket (a star, linear in the bucket size) if their estimated Jaccard
    similarity reaches ``threshold``; clusters are the connected components.
    """
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    bands, rows = lsh_params(threshold, num_perm)
    # On disk, not in memory: about 1 KB a document, beside the cached documents they ran a local 2 GB heap
    # out of memory on 100 MB of one-line documents (docs/prepare.md).
    signatures = (records.where("kind = 'doc'").select("doc_id", "text")
                  .mapInArrow(chain(_signature_step(num_perm, ngram, bands, rows)), _SIGNATURE_DDL)
                  .persist(StorageLevel.DISK_ONLY))
    buckets = signatures.select("doc_id", F.posexplode("bands").alias("band", "key"))
    edges = (buckets.withColumn("root", F.min("doc_id").over(Window.partitionBy("band", "key")))
             .where("doc_id != root").select(F.col("root").alias("src"), F.col("doc_id").alias("dst")).distinct())
    a, b = (signatures.select("doc_id", "signature").alias(side) for side in ("a", "b"))
    same = F.expr("aggregate(zip_with(a.signature, b.signature, (x, y) -> if(x = y, 1, 0)), 0, (s, v) -> s + v)")
    verified = (edges.join(a, F.col("src") == F.col("a.doc_id")).join(b, F.col("dst") == F.col("b.doc_id"))
                .where(same >= F.lit(threshold * num_perm)).select("src", "dst"))
    components = connected_components(verified)
    ranked = (components.join(signatures.select("doc_id", "length"), components.node == signatures.doc_id)
              .withColumn("rank", F.row_number().over(_representative_window("component"))))
    return ranked.where("rank > 1").select("doc_id"), signatures


def connected_components(  # type: ignore[no-untyped-def]
        edges, max_rounds: int = 100, driver_max_id_bytes: int = DRIVER_MAX_ID_BYTES):
    """(node, component) for every node of ``edges`` (src, dst); component is the smallest node id.

    Up to ``driver_max_id_bytes`` of ids, union-find on the driver
    (:func:`~shardvec.text.dedup.smallest_members`). Beyond, min-label
    propagation with pointer jumping: each round a node takes the smallest
    label among its neighbours, then the label of its label, so long chains
    collapse in about log(diameter) rounds. Each round's labels are
    checkpointed to keep the plan short; the loop stops when no label
    changes (a count, the only thing the driver sees).
    """
    from pyspark.sql import functions as F

    edges = edges.localCheckpoint()  # read again whichever way: its joins and windows run once
    count, id_bytes = edges.agg(F.count("*"), F.sum(F.octet_length("src") + F.octet_length("dst"))).first()
    id_bytes = id_bytes or 0  # the sum of no rows is null
    if id_bytes <= driver_max_id_bytes:
        log.info(f"near dedup: {count:,} verified pairs, their components by union-find on the driver")
        pairs = edges.toArrow()
        components = smallest_members(pairs.column("src").to_pylist(), pairs.column("dst").to_pylist())
        table = pa.table({"node": list(components), "component": list(components.values())},
                         schema=pa.schema([("node", pa.string()), ("component", pa.string())]))
        return edges.sparkSession.createDataFrame(table)
    log.info(f"near dedup: {count:,} verified pairs ({id_bytes / 2 ** 20:,.0f} MB of ids), their components in "
             "rounds of Spark jobs")
    undirected = edges.select(F.col("src").alias("a"), F.col("dst").alias("b")).union(
        edges.select(F.col("dst").alias("a"), F.col("src").alias("b"))).distinct().localCheckpoint()
    labels = (undirected.groupBy(F.col("a").alias("node")).agg(F.min("b").alias("smallest_neighbour"))
              .select("node", F.least("node", "smallest_neighbour").alias("label")).localCheckpoint())
    for _ in range(max_rounds):
        offered = (undirected.join(labels.withColumnRenamed("node", "b"), "b")
                   .groupBy(F.col("a").alias("node")).agg(F.min("label").alias("offer")))
        stepped = (labels.join(offered, "node", "left")
                   .select("node", F.least("label", F.coalesce("offer", "label")).alias("label")))
        jumped = (stepped.alias("x").join(stepped.alias("y"), F.col("x.label") == F.col("y.node"), "left")
                  .select(F.col("x.node").alias("node"),
                          F.least("x.label", F.coalesce("y.label", "x.label")).alias("label"))).localCheckpoint()
        changed = jumped.join(labels.withColumnRenamed("label", "old"), "node").where("label != old").count()
        labels = jumped
        if changed == 0:
            return labels.withColumnRenamed("label", "component")
    log.warning(f"connected components did not converge in {max_rounds} rounds")
    return labels.withColumnRenamed("label", "component")


def _line_keys_step(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        ids, line_indices, keys = [], [], []
        for doc_id, text in zip(batch.column("doc_id").to_pylist(), batch.column("text").to_pylist()):
            for i, key in enumerate(line_keys(text)):
                if key is not None:
                    ids.append(doc_id), line_indices.append(i), keys.append(key)
        yield pa.RecordBatch.from_pydict({"doc_id": ids, "line_idx": line_indices, "line_key": keys},
                                         schema=pa.schema([("doc_id", pa.string()), ("line_idx", pa.int32()),
                                                           ("line_key", pa.int64())]))


def _remove_lines_step(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        texts = [remove_lines(text, set(drop)) or None for text, drop in
                 zip(batch.column("text").to_pylist(), batch.column("drop_lines").to_pylist())]
        yield replace(conform(batch), text=texts, kind=["doc" if t else "drop" for t in texts],
                      reason=[None if t else LINES for t in texts])


def remove_duplicate_lines(records):  # type: ignore[no-untyped-def]
    """CCNet-style: a normalized line seen before (smaller doc_id, then line index) is removed;
    a document left without lines is dropped as ``duplicate_lines``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from shardvec.spark.records import RECORD_DDL

    docs = records.where("kind = 'doc'")
    lines = docs.select("doc_id", "text").mapInArrow(chain(_line_keys_step), _LINES_DDL)
    first = Window.partitionBy("line_key").orderBy("doc_id", "line_idx")
    repeated = (lines.withColumn("rank", F.row_number().over(first)).where("rank > 1")
                .groupBy("doc_id").agg(F.collect_list("line_idx").alias("drop_lines")))
    touched = docs.join(repeated, "doc_id").select(*RECORD_SCHEMA.names, "drop_lines")
    rewritten = touched.mapInArrow(chain(_remove_lines_step), RECORD_DDL)
    untouched = records.join(repeated.select("doc_id"), "doc_id", "left_anti").select(*RECORD_SCHEMA.names)
    return untouched.unionByName(rewritten)


def apply_dedup(records, modes: list[str], threshold: float, num_perm: int, ngram: int):  # type: ignore[no-untyped-def]
    """Exact, then near, then line dedup, as asked; whole-document reasons come first so a
    duplicated document is reported as such, not as a document of duplicated lines.

    A mode's output is cached only when a later mode reads it again: the last
    one's is read once, by the steps after dedup, and caching it cost the JVM
    a columnar copy of every document's text (exact dedup alone on 25 MB of
    one-line documents: 0.86x of the JVM's CPU without it, bench/RESULTS.md).
    Its rows then reach the steps in other tasks, so the shards deal the same
    sentences in another order (docs/prepare.md).
    """
    from pyspark import StorageLevel

    cached = []
    if "exact" in modes:
        records = mark_dropped(records, exact_duplicates(records), EXACT)
        if "near" in modes or "lines" in modes:
            records = records.persist(StorageLevel.MEMORY_AND_DISK)
            cached.append(records)
    if "near" in modes:
        duplicates, signatures = near_duplicates(records, threshold, num_perm, ngram)
        records = mark_dropped(records, duplicates, NEAR)
        cached.append(signatures)
        if "lines" in modes:
            records = records.persist(StorageLevel.MEMORY_AND_DISK)
            cached.append(records)
    if "lines" in modes:
        records = remove_duplicate_lines(records)
    return records, cached

"""word2phrase passes with counts distributed by Spark; scoring and joining are
:mod:`shardvec.text.phrases`.

Unigram and bigram counts and the scores are Spark aggregations and joins;
only the bigrams that pass the threshold reach the driver, to be broadcast
to the join step (word2phrase itself keeps them in memory the same way).
"""

from __future__ import annotations

from shardvec.logs import stage_logger
from shardvec.spark.records import RECORD_DDL, chain, phrase_step
from shardvec.text.phrases import phrase_score

log = stage_logger(__name__, "prepare")


def find_phrases(sentences, threshold: float, min_count: int) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Bigrams of ``sentences`` (a tokens column) whose word2phrase score exceeds ``threshold``."""
    from pyspark.sql import functions as F

    words = sentences.select(F.explode("tokens").alias("word"))
    total = words.count()
    if total == 0:
        return set()
    unigrams = words.groupBy("word").count().where(F.col("count") >= min_count)
    pairs = (sentences.where(F.size("tokens") >= 2)
             .select(F.explode(F.arrays_zip(F.slice("tokens", 1, F.size("tokens") - 1),
                                            F.slice("tokens", 2, F.size("tokens") - 1))).alias("pair"))
             .select(F.col("pair.0").alias("a"), F.col("pair.1").alias("b"))
             .groupBy("a", "b").count().where(F.col("count") >= min_count))
    first_counts = unigrams.select(F.col("word").alias("a"), F.col("count").alias("n_a"))
    second_counts = unigrams.select(F.col("word").alias("b"), F.col("count").alias("n_b"))
    # The pure formula over columns: the score is computed in the JVM.
    score = phrase_score(F.col("n_a"), F.col("n_b"), F.col("count"), F.lit(total), F.lit(min_count))
    scored = pairs.join(first_counts, "a").join(second_counts, "b").where(score > F.lit(threshold))
    return {(r["a"], r["b"]) for r in scored.select("a", "b").collect()}


def apply_phrases(spark, records, passes: int, threshold: float, min_count: int):  # type: ignore[no-untyped-def]
    """Run ``passes`` word2phrase passes over the sentence rows of ``records``.

    Returns the new records and the number of phrases found per pass; each
    pass's result is persisted and the previous one released.
    """
    from pyspark import StorageLevel

    found = []
    for n in range(1, passes + 1):
        phrases = find_phrases(records.where("kind = 'sent'").select("tokens"), threshold, min_count)
        found.append(len(phrases))
        log.info(f"phrase pass {n}/{passes}: {len(phrases)} phrase(s)")
        if not phrases:
            break
        table = spark.sparkContext.broadcast(frozenset(phrases))
        joined = records.mapInArrow(chain(phrase_step(table)), RECORD_DDL).persist(StorageLevel.MEMORY_AND_DISK)
        joined.count()
        records.unpersist()
        records = joined
    return records, found

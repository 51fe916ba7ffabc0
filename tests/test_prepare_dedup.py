"""prepare on real local Spark with exact, near and line dedup and word2phrase passes, in one run."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import manifest
from prepare_helpers import random_text, write_jsonl
from test_prepare_inputs import assert_accounting

from shardvec.config import Config
from shardvec.corpus import Vocab

BOILERPLATE = "Subscribe to our newsletter for weekly kalomi updates"


@pytest.fixture(scope="module")
def corpus(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dedup")
    base, near = random_text(200, seed=1), random_text(200, seed=2)
    docs = [
        {"id": "orig", "text": base},
        {"id": "exact-copy", "text": base.upper().replace(".", "!")},  # same after normalization
        {"id": "near-short", "text": near},
        {"id": "near-long", "text": near + " kalo mire tusa."},  # longest of its cluster: the representative
        {"id": "near-chain", "text": near + " kalo mire tusa. nepo diga."},
        {"id": "line-a", "text": random_text(60, seed=3) + "\n" + BOILERPLATE},
        {"id": "line-b", "text": random_text(60, seed=4) + "\n" + BOILERPLATE},
        {"id": "only-boilerplate", "text": BOILERPLATE + "!"},
    ]
    # "new york" appears together far more than new or york alone: word2phrase joins it.
    docs += [{"id": f"ny{i}", "text": f"{random_text(4, seed=100 + i)} new york {random_text(20, seed=200 + i)}"}
             for i in range(30)]
    docs += [{"id": f"nyt{i}", "text": f"{random_text(4, seed=300 + i)} new york times {random_text(9, seed=400 + i)}"}
             for i in range(20)]
    docs += [{"id": "new", "text": "A new idea. The york minster."}]
    path = write_jsonl(root / "docs.jsonl", docs)
    cfg = Config()
    cfg.spark.master, cfg.vocab.min_count = "local[2]", 1
    p = cfg.prepare
    p.input, p.output, p.shards = [str(path)], str(root / "out"), 2
    p.dedup.modes, p.dedup.near_dup_threshold = ["exact", "near", "lines"], 0.7
    p.phrase_passes, p.phrase_threshold = 2, 10.0
    from shardvec import api

    return api.prepare(cfg)


def fates(corpus: Path) -> dict[str, str | None]:
    return {r["record_id"]: r["reason"] for r in pq.read_table(corpus / "lineage").to_pylist()}


def test_each_dedup_mode_drops_with_its_reason(corpus: Path) -> None:
    m = manifest(corpus)
    assert_accounting(m)
    assert m["records"]["dropped"] == {"duplicate_lines": 1, "exact_duplicate": 1, "near_duplicate": 2}
    f = fates(corpus)
    assert f["orig"] is None and f["exact-copy"] == "exact_duplicate"  # same length: the smaller id stays
    assert f["near-chain"] is None and f["near-short"] == f["near-long"] == "near_duplicate"  # longest stays
    assert f["line-a"] is None and f["line-b"] is None and f["only-boilerplate"] == "duplicate_lines"
    d = m["dedup"]
    assert d["lsh_bands"] * d["lsh_rows"] <= d["minhash_perm"] and d["modes"] == ["exact", "near", "lines"]


def test_repeated_lines_are_kept_once(corpus: Path) -> None:
    sentences = [s for p in (corpus / "shards").glob("*.parquet") for s in pq.read_table(p).column(0).to_pylist()]
    assert sum(1 for s in sentences if s[:2] == ["subscribe", "to"]) == 1


def test_phrase_passes_join_collocations(corpus: Path) -> None:
    m = manifest(corpus)
    words = set(Vocab.read(corpus / "vocab.parquet").words)
    assert "new_york" in words and m["phrases"]["found_per_pass"][0] >= 1
    assert "new_york_times" in words  # the second pass extends the first pass's phrase
    assert "new" in words  # "a new idea" stays a single word


@pytest.mark.parametrize("driver_max_id_bytes", [-1, 2 ** 20], ids=["rounds-in-spark", "union-find-on-driver"])
def test_spark_connected_components_match_a_graph_search(spark, driver_max_id_bytes: int) -> None:
    import random

    from prepare_reference import components_by_search

    from shardvec.spark.dedup import connected_components

    rng = random.Random(3)
    nodes = [f"d{i:03d}" for i in range(200)]
    edges = [(nodes[i + 1], nodes[i]) for i in range(60)]  # a long chain, smallest id at the far end
    edges += [(a, b) for a, b in ((rng.choice(nodes), rng.choice(nodes)) for _ in range(80)) if a != b]
    frame = spark.createDataFrame(edges, "src string, dst string")
    found = connected_components(frame, driver_max_id_bytes=driver_max_id_bytes)
    assert found.dtypes == [("node", "string"), ("component", "string")]
    assert {r["node"]: r["component"] for r in found.collect()} == components_by_search(edges)
    none = connected_components(spark.createDataFrame([], "src string, dst string"),
                                driver_max_id_bytes=driver_max_id_bytes)
    assert none.dtypes == found.dtypes and none.count() == 0  # no near duplicates: no components


def test_only_results_that_a_later_mode_reads_again_are_cached(spark) -> None:
    """The last mode's result is read once, by the steps after dedup: caching it only copied every text."""
    from shardvec.spark.dedup import EXACT, apply_dedup
    from shardvec.spark.records import RECORD_DDL, RECORD_SCHEMA

    texts = {"a": "one two three four five six", "b": "one two three four five six", "c": "seven eight nine ten"}
    rows = [{**dict.fromkeys(RECORD_SCHEMA.names), "kind": "doc", "doc_id": doc_id, "text": text,
             "exact_key": hash(text)} for doc_id, text in texts.items()]
    records = spark.createDataFrame([tuple(r[n] for n in RECORD_SCHEMA.names) for r in rows], RECORD_DDL)
    kept, cached = apply_dedup(records, ["exact"], 0.7, 64, 3)
    assert cached == [] and not kept.is_cached
    assert {r.doc_id: r.reason for r in kept.collect()} == {"a": None, "b": EXACT, "c": None}
    kept, cached = apply_dedup(records, ["exact", "near", "lines"], 0.7, 64, 3)
    assert len(cached) == 3 and all(frame.is_cached for frame in cached)  # exact's, the signatures, near's
    assert {r.doc_id: r.reason for r in kept.collect()} == {"a": None, "b": EXACT, "c": None}
    for frame in cached:
        frame.unpersist()


def test_joins_of_frames_grown_from_the_file_groups_are_broadcast_only_once_measured(
        spark, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from shardvec.spark.prepare_job import _broadcasts_by_measured_size, file_groups, input_work

    static, adaptive = "spark.sql.autoBroadcastJoinThreshold", "spark.sql.adaptive.autoBroadcastJoinThreshold"
    before = spark.conf.get(static), spark.conf.get(adaptive, None)
    files = [str(tmp_path / f"f{i}.txt") for i in range(4)]
    for path in files:
        Path(path).write_text("a line\n")
    groups = file_groups(spark, input_work(files, {}))
    # A frame grown from the groups is estimated at the size of a few group numbers, whatever it becomes.
    docs = groups.frame.mapInArrow(groups.paths_step, "path string")

    def plan() -> str:
        docs.join(docs, "path").explain()
        return capsys.readouterr().out

    assert "BroadcastHashJoin" in plan()
    with _broadcasts_by_measured_size(spark):
        assert "BroadcastHashJoin" not in plan() and "SortMergeJoin" in plan()
        assert spark.conf.get(adaptive) == (before[1] or before[0])  # adaptive execution broadcasts what it measured
        assert sorted(r.path for r in docs.join(docs, "path").collect()) == sorted(files)
    assert (spark.conf.get(static), spark.conf.get(adaptive, None)) == before
    groups.listing.destroy()

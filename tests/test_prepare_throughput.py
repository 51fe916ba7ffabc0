"""Each Python step's CPU time, and the manifest's MB/s per core per step (real local Spark)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pytest
from helpers import manifest
from prepare_helpers import prose

from shardvec.spark.records import TIMING, chain, make_batch, split_kind, timed


def _busy(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def _source(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for _ in batches:
        for _ in range(3):
            _busy(0.1)
            yield make_batch(1, kind="doc", text="x")


def _light(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        _busy(0.01)
        yield batch


def test_a_timed_step_counts_its_own_time_not_its_upstream() -> None:
    split_kind(make_batch(1, kind="doc"), "doc")  # Arrow's first calls initialize it: not what is measured here
    out = list(chain(timed("heavy", _source), timed("light", _light))(iter([make_batch(1)])))
    rows = [r for b in out for r in split_kind(b, TIMING)[0].select(["reason", "count"]).to_pylist()]
    micros = {r["reason"]: r["count"] for r in rows}
    assert set(micros) == {"heavy", "light"}
    assert 290_000 <= micros["heavy"] <= 450_000  # 3 x 0.1 s
    assert 35_000 <= micros["light"] <= 150_000  # 4 batches (3 docs and heavy's timing row) x 0.01 s, not heavy's


def test_manifest_reports_mb_per_second_per_core_of_each_step(spark, tmp_path: Path) -> None:
    from shardvec import api
    from shardvec.config import Config

    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(4):
        (inputs / f"part-{i}.txt").write_text("\n".join(prose(3, seed=10 * i + j) for j in range(300)))
    cfg = Config()
    cfg.spark.master, cfg.vocab.min_count = "local[2]", 1
    cfg.prepare.input, cfg.prepare.output, cfg.prepare.lineage = [str(inputs)], str(tmp_path / "out"), False
    m = manifest(api.prepare(cfg))
    throughput = m["throughput"]
    mb = sum(f.stat().st_size for f in inputs.iterdir()) / 2 ** 20
    assert abs(throughput["input_mb"] - mb) < 1e-3
    assert list(throughput["steps"]) == ["read", "clean", "tokenize", "count_and_spill", "shards"]
    for step in throughput["steps"].values():
        assert step["cpu_seconds"] > 0
        cpu = step["cpu_seconds"]  # rounded to the millisecond
        assert mb / (cpu + 5e-4) - 0.01 <= step["mb_per_s_per_core"] <= mb / max(cpu - 5e-4, 1e-9) + 0.01
    assert m["records"]["kept"] == 1200 and "timing" not in m["records"]["dropped"]


def test_vocabulary_summed_on_the_driver_equals_sparks_sum(spark, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Small word counts are summed by Arrow on the driver, large ones by Spark: the same vocabulary, ties in
    count ordered by the word's bytes, min_count and max_vocab_size applied alike."""
    import pyarrow.parquet as pq

    import shardvec.spark.prepare_job as job

    words = ["b", "a", "é", "Z", "c", "aa", "rare"]
    files = []
    for k, counts in enumerate([[5, 5, 3, 5, 1, 2, 1], [0, 0, 2, 0, 4, 3, 0], [1, 1, 0, 1, 0, 0, 0]]):
        path = tmp_path / f"part-{k}.words.parquet"
        kept = [(w, c) for w, c in zip(words, counts) if c]
        pq.write_table(pa.table({"word": [w for w, _ in kept], "count": pa.array([c for _, c in kept], pa.int64())}),
                       path)
        files.append(str(path))
    for min_count, max_size in [(1, 0), (2, 0), (2, 3)]:
        on_driver = job.build_vocab(spark, files, min_count, max_size)
        with monkeypatch.context() as patch:
            patch.setattr(job, "_DRIVER_SUM_BYTES", 0)
            by_spark = job.build_vocab(spark, files, min_count, max_size)
        assert list(zip(on_driver.words, on_driver.counts.tolist())) == list(zip(by_spark.words,
                                                                                 by_spark.counts.tolist()))
    assert list(zip(on_driver.words, on_driver.counts.tolist())) == [("Z", 6), ("a", 6), ("b", 6)]
    full = job.build_vocab(spark, files, 1, 0)
    assert list(zip(full.words, full.counts.tolist())) == [("Z", 6), ("a", 6), ("b", 6), ("aa", 5), ("c", 5),
                                                           ("é", 5), ("rare", 1)]


def test_spilled_word_counts_are_the_same_counted_in_one_piece_or_many(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The spill step counts its task's words some batches at a time and sums the pieces: whatever the
    piece, each word's count is its number of tokens, and the part file holds every sentence in order."""
    from collections import Counter

    import pyarrow.parquet as pq

    import shardvec.spark.records as records

    sentences = [["the", "cat"], ["the", "é", "dog", "the"], ["cat"], ["z"], ["the", "end"]]
    batches = [make_batch(len(group), kind="sent", tokens=pa.array(group, pa.list_(pa.string())))
               for group in (sentences[:2], sentences[2:3], sentences[3:])]
    names = iter(range(10))
    monkeypatch.setattr(records, "_task_file",  # no Spark task here: a new file per run
                        lambda directory, name, suffix: (0, f"{directory}/{name}-{next(names)}{suffix}"))
    for piece in (1 << 22, 3, 1):
        monkeypatch.setattr(records, "_COUNT_TOKENS", piece)
        rows = list(records.spill_step(str(tmp_path))(iter(batches)))
        part = rows[-1].to_pylist()[0]
        assert (part["kind"], part["records"], part["count"]) == ("part", 5, 10)
        counted = pq.read_table(records.word_counts_path(part["source"])).to_pylist()
        assert {r["word"]: r["count"] for r in counted} == Counter(t for s in sentences for t in s)
        assert len(counted) == 6
        with pa.memory_map(part["source"]) as source:
            assert pa.ipc.open_file(source).read_all().column(0).to_pylist() == sentences


def test_the_tally_hands_other_rows_on_in_order_small_batches_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows that are not fates pass the tally unchanged and in order (sentences, for the phrase pass, keep
    the corpus's order); small batches of them go on as one, the fates as their sums after them."""
    import shardvec.spark.records as records

    monkeypatch.setattr(records, "_SMALL_BATCH", 3)
    sentences = pa.array([["a"], ["b"], ["c"], ["d"]], pa.list_(pa.string()))
    batches = [make_batch(1, kind="file", source="f1"), make_batch(2, kind="doc", source="f1", count=1),
               make_batch(1, kind="timing", reason="read", count=5), make_batch(4, kind="sent", tokens=sentences),
               make_batch(1, kind="file", source="f2"), make_batch(1, kind="drop", source="f2", reason="empty",
                                                                   count=1)]
    out = list(records.tally_step()(iter(batches)))
    assert [b.column("kind").to_pylist() for b in out] == [
        ["file", "timing"], ["sent"] * 4, ["file"], ["doc", "drop"]]
    assert out[1].column("tokens").to_pylist() == [["a"], ["b"], ["c"], ["d"]]
    assert sorted(zip(out[3].column("source").to_pylist(), out[3].column("count").to_pylist())) == [("f1", 2),
                                                                                                   ("f2", 1)]


class _Node:
    """An object in a reference cycle with itself: only the cyclic garbage collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_a_task_leaves_what_outlives_it_to_the_collector_no_more_and_still_frees_its_own_garbage() -> None:
    import gc
    import weakref

    older, freed = _Node(), []

    def step(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            freed.append(weakref.ref(_Node()))  # garbage the moment it is made
            yield batch

    try:
        list(chain(step)(iter([make_batch(1)])))
        gc.collect()
        assert not any(o is older for o in gc.get_objects())  # frozen: no pass of the collector walks it
        assert freed[0]() is None
    finally:
        gc.unfreeze()
    assert any(o is older for o in gc.get_objects())


def test_python_workers_get_the_environment_that_keeps_their_memory_in_small_pages(spark) -> None:
    from shardvec.spark.session import KEEP_MEMORY_ENV, NO_HUGE_PAGES_ENV

    wanted = {**KEEP_MEMORY_ENV, **NO_HUGE_PAGES_ENV}
    names = sorted(wanted)
    # A lambda is pickled by value: the worker need not import this module. It reads the worker's environment.
    seen = spark.sparkContext.parallelize(names, 1).map(lambda name: __import__("os").environ.get(name)).collect()
    assert dict(zip(names, seen)) == wanted


def test_the_workers_environment_yields_to_conf_and_can_be_turned_off() -> None:
    from shardvec.config import SparkConfig
    from shardvec.spark.session import KEEP_MEMORY_ENV, session_settings

    keys = {f"spark.executorEnv.{name}": value for name, value in KEEP_MEMORY_ENV.items()}
    assert keys.items() <= session_settings(SparkConfig()).items()
    mine = session_settings(SparkConfig(conf={"spark.executorEnv.MIMALLOC_PURGE_DELAY": "10"}))
    assert mine["spark.executorEnv.MIMALLOC_PURGE_DELAY"] == "10"
    assert mine["spark.executorEnv.MALLOC_TRIM_THRESHOLD_"] == KEEP_MEMORY_ENV["MALLOC_TRIM_THRESHOLD_"]
    assert not keys.keys() & session_settings(SparkConfig(keep_worker_memory=False)).keys()


def test_huge_pages_stay_off_in_the_workers_unless_asked_for_or_set_in_conf() -> None:
    from shardvec.config import SparkConfig
    from shardvec.spark.session import NO_HUGE_PAGES_ENV, session_settings

    keys = {f"spark.executorEnv.{name}": value for name, value in NO_HUGE_PAGES_ENV.items()}
    assert keys.items() <= session_settings(SparkConfig(keep_worker_memory=False)).items()
    assert not keys.keys() & session_settings(SparkConfig(huge_pages=True)).keys()
    mine = session_settings(SparkConfig(conf={"spark.executorEnv.MIMALLOC_ALLOW_THP": "1"}))
    assert mine["spark.executorEnv.MIMALLOC_ALLOW_THP"] == "1"
    assert mine["spark.executorEnv.NUMPY_MADVISE_HUGEPAGE"] == "0"


def test_the_jvms_get_the_java_options_unless_conf_sets_them(spark, monkeypatch) -> None:
    from shardvec.config import SparkConfig
    from shardvec.spark import session
    from shardvec.spark.session import session_settings

    default = SparkConfig().java_options
    sides = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")
    assert [session_settings(SparkConfig(class_archive=False))[key] for key in sides] == [default, default]
    mine = session_settings(SparkConfig(class_archive=False, conf={"spark.executor.extraJavaOptions": "-Xss4m"}))
    assert [mine[key] for key in sides] == [default, "-Xss4m"]
    assert not set(sides) & session_settings(SparkConfig(java_options="", class_archive=False)).keys()
    # With Spark running in this process (the tests' own), its driver JVM's options are settled: no archive.
    assert session_settings(SparkConfig())["spark.driver.extraJavaOptions"] == default
    # Before Spark has started, the driver's options end with its class archive's.
    monkeypatch.setattr(session, "_started", lambda: False)
    driver = session_settings(SparkConfig())["spark.driver.extraJavaOptions"]
    assert driver.startswith(default + " -XX:") and "Archive" in driver
    assert session_settings(SparkConfig(java_options=""))["spark.driver.extraJavaOptions"].startswith("-XX:")
    # The tests' own Spark was started with them: its JVM runs with the option.
    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert default in list(runtime.getInputArguments())


def test_the_driver_sums_the_small_rows_as_spark_does(spark) -> None:
    """Without a shuffle that moved documents the driver sums the tasks' rows itself; whatever the rows (a
    file's fates from two tasks, null keys, a status row without a count) it gets Spark's sums."""
    from shardvec.spark.prepare_job import _small_rows
    from shardvec.spark.records import RECORD_DDL

    def two_tasks(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:  # in the test: pickled whole
        """File ``a``'s fates in both tasks, its status (no count) in the first, timings, a sentence."""
        for task in next(batches).column("id").to_pylist():
            yield make_batch(2, kind="doc", source="a", count=[3, 4] if task == 0 else [5, 0])
            yield make_batch(1, kind="drop", source="a", reason="empty", count=2)
            yield make_batch(1, kind=TIMING, reason="read", count=100 * (task + 1))
            yield make_batch(1, kind="sent", tokens=[["not", "small"]])
            if task == 0:
                yield make_batch(1, kind="file", source="a", status="ok", records=16, format="text")

    frame = spark.range(2, numPartitions=2).mapInArrow(two_tasks, RECORD_DDL)
    by_driver, by_spark = (_small_rows(frame, moved) for moved in (False, True))
    assert {kind: sorted(map(repr, rows)) for kind, rows in by_driver.items()} == \
        {kind: sorted(map(repr, rows)) for kind, rows in by_spark.items()}
    assert [(r["source"], r["count"]) for r in by_driver["doc"]] == [("a", 12)]
    assert [(r["reason"], r["count"]) for r in by_driver["drop"]] == [("empty", 4)]
    assert [(r["reason"], r["count"]) for r in by_driver[TIMING]] == [("read", 300)]
    assert [(r["records"], r["count"]) for r in by_driver["file"]] == [(16, None)]


def test_a_later_session_in_the_process_launches_no_java(spark, monkeypatch) -> None:
    from shardvec.config import SparkConfig
    from shardvec.spark import session

    def launched(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was launched: {args}")

    # Neither the Java check nor the class archive's probe (whose option the running JVM could not take).
    monkeypatch.setattr(session.subprocess, "run", launched)
    again = session.spark_session(SparkConfig(master="local[2]", shuffle_partitions=4, driver_memory="1g"))
    assert again.sparkContext is spark.sparkContext


_STATUS = Path("/proc/self/status")


def _thp_enabled() -> str:
    """This process's ``THP_enabled`` from /proc: "0" while the no-huge-pages flag is set."""
    found = re.search(r"^THP_enabled:\s*(\d)", _STATUS.read_text(), re.M)
    assert found
    return found.group(1)


@pytest.mark.skipif(not _STATUS.exists() or "THP_enabled" not in _STATUS.read_text(),
                    reason="needs Linux's per-process THP_enabled flag")
def test_the_driver_is_without_huge_pages_for_the_block_only_and_its_children_inherit_it() -> None:
    from shardvec.spark.session import without_huge_pages

    before = _thp_enabled()  # "1" unless whatever started the tests set the flag
    with without_huge_pages():
        assert _thp_enabled() == "0"
        child = subprocess.run(["grep", "THP_enabled", "/proc/self/status"], capture_output=True, text=True)
        assert child.stdout.split() == ["THP_enabled:", "0"]
    assert _thp_enabled() == before
    with without_huge_pages(False):
        assert _thp_enabled() == before

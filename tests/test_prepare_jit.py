"""``spark.jit``: the JVMs compile with C1 alone where prepare's JVM moves only small rows, and keep the
optimizing compiler where it joins or shuffles documents (dedup, phrases, skewed inputs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shardvec.config import DedupConfig, PrepareConfig, SparkConfig
from shardvec.spark import session
from shardvec.spark.prepare_job import input_work, small_rows_only
from shardvec.spark.session import QUICK_JIT, local_parallelism, session_settings, use_quick_jit


def test_the_local_parallelism_is_spark_s_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    every = len(os.sched_getaffinity(0))

    def parallelism(master: str, **conf: str) -> int | None:
        return local_parallelism(SparkConfig(master=master, conf={k.replace("_", "."): v for k, v in conf.items()}))

    assert [parallelism(m) for m in ("local", "local[3]", "local[4,2]", "local[4, 2]", "local[*]", "")] == \
        [1, 3, 4, 4, every, every]
    assert [parallelism(m) for m in ("spark://127.0.0.1:7077", "yarn", "local-cluster[2,1,1024]", "local[0]")] == \
        [None] * 4
    # conf's settings win, as they do in Spark: its master, its default parallelism.
    assert parallelism("local[3]", spark_master="yarn") is None
    assert parallelism("local[2]", spark_default_parallelism="16") == 16
    # Settings this process cannot see: spark-submit's, or PYSPARK_SUBMIT_ARGS.
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--conf spark.default.parallelism=16 pyspark-shell")
    assert parallelism("local[2]") is None
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS")
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "1")
    assert parallelism("") is None


def test_auto_asks_the_job_only_where_this_process_starts_a_local_spark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    asked: list[int] = []

    def small(answer: bool):  # type: ignore[no-untyped-def]
        def ask(parallelism: int) -> bool:
            asked.append(parallelism)
            return answer
        return ask

    monkeypatch.setattr(session, "_started", lambda: False)
    assert use_quick_jit(SparkConfig(master="local[3]"), small(True)) and asked == [3]
    assert not use_quick_jit(SparkConfig(master="local[3]"), small(False))
    assert not use_quick_jit(SparkConfig(master="local[3]"))  # no job to judge: the optimizing compiler stays
    asked.clear()
    assert not use_quick_jit(SparkConfig(master="spark://127.0.0.1:7077"), small(True))
    assert not use_quick_jit(SparkConfig(master="local[3]", jit="tiered"), small(True))
    assert use_quick_jit(SparkConfig(master="yarn", jit="quick"), small(False))
    assert asked == []
    # A JVM that runs already keeps the compiler it was started with: nothing to decide.
    monkeypatch.setattr(session, "_started", lambda: True)
    assert not use_quick_jit(SparkConfig(master="local[3]"), small(True)) and asked == []


def test_the_quick_compiler_comes_before_the_users_java_options() -> None:
    sides = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")
    config = SparkConfig(class_archive=False)
    quick = session_settings(config, quick=True)
    assert [quick[side] for side in sides] == [f"{QUICK_JIT} {config.java_options}"] * 2
    assert [session_settings(config)[side] for side in sides] == [config.java_options] * 2
    alone = session_settings(SparkConfig(class_archive=False, java_options=""), quick=True)
    assert [alone[side] for side in sides] == [QUICK_JIT] * 2
    mine = session_settings(SparkConfig(class_archive=False, conf={sides[0]: "-Xss4m"}), quick=True)
    assert [mine[side] for side in sides] == ["-Xss4m", f"{QUICK_JIT} {config.java_options}"]


def _files(folder: Path, sizes: list[int]) -> list[str]:
    """Files of these sizes (sparse: only their size is looked at)."""
    folder.mkdir()
    paths = []
    for i, size in enumerate(sizes):
        path = folder / f"part-{i}.txt"
        with path.open("wb") as fh:
            fh.truncate(size)
        paths.append(str(path))
    return paths


def test_only_a_job_without_joins_or_shuffles_moves_only_small_rows(tmp_path: Path) -> None:
    even = _files(tmp_path / "even", [4 << 20] * 8)
    skewed = _files(tmp_path / "skewed", [24 << 20] + [1 << 20] * 8)
    plain = PrepareConfig()

    def small(prepare: PrepareConfig, files: list[str], parallelism: int) -> bool:
        return small_rows_only(prepare, input_work(files, {}), parallelism)

    assert small(plain, even, 2)
    assert not small(plain, skewed, 2)  # one file is most of the work: its documents are spread
    assert small(plain, skewed, 1)  # on one core nothing needs spreading
    assert not small(PrepareConfig(dedup=DedupConfig(modes=["lines"])), even, 2)
    assert not small(PrepareConfig(phrase_passes=1), even, 2)
    assert input_work(even + even, {}) == input_work(even, {})  # a file named twice is read once
    big = _files(tmp_path / "big", [80 << 20] * 8)  # a long run: the optimizing compiler pays for itself
    assert not small(plain, big, 2)


def test_the_judge_agrees_with_the_groups_prepare_reads(spark, tmp_path: Path) -> None:
    """What the judge foresees at the session's parallelism is what the run then finds."""
    from shardvec.spark.prepare_job import file_groups

    for name, sizes in (("even", [4 << 20] * 8), ("skewed", [24 << 20] + [1 << 20] * 8), ("few", [1 << 20] * 3)):
        files = _files(tmp_path / name, sizes)
        work = input_work(files, {})
        groups = file_groups(spark, work)
        groups.listing.destroy()
        assert small_rows_only(PrepareConfig(), work, spark.sparkContext.defaultParallelism) == groups.balanced


_RUN = """
import sys
from shardvec import api
from shardvec.config import Config
config = Config()
config.spark.master, config.spark.class_archive = "local[1]", False
config.prepare.input, config.prepare.output = [sys.argv[1]], sys.argv[2]
config.prepare.dedup.modes = sys.argv[3:]
api.prepare(config, sole_run=True)
from pyspark import SparkContext
arguments = SparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
print("jvm:", " ".join(arguments))
"""


@pytest.mark.slow
@pytest.mark.parametrize("dedup", [[], ["exact"]])
def test_shardvec_prepare_starts_its_jvm_with_the_compiler_its_job_needs(tmp_path: Path, dedup: list[str]) -> None:
    """As a user's process runs it: the plain path's JVM gets C1 alone, dedup's the optimizing compiler too."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"{i}.txt").write_text("".join(f"Line {j} of file {i} has a few words.\n" for j in range(50)))
    done = subprocess.run([sys.executable, "-c", _RUN, str(corpus), str(tmp_path / "out"), *dedup],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    jvm = next(line for line in done.stdout.splitlines() if line.startswith("jvm:")).split()
    assert (QUICK_JIT in jvm) == (not dedup)
    assert SparkConfig().java_options in jvm
    assert (tmp_path / "out" / "_SUCCESS").exists()

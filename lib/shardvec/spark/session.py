"""Start or join a SparkSession the way a Spark user expects.

Under ``spark-submit`` the session is already configured and its ``--master``
wins; run from Python, an embedded ``local[*]`` Spark starts by itself. An
explicit ``spark.master`` in the config (or ``--master``) overrides both.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from typing import Callable, Iterator
from urllib.parse import urlparse

from shardvec.config import SparkConfig
from shardvec.errors import EnvironmentProblem
from shardvec.logs import stage_logger
from shardvec.spark.class_archive import archive_option, default_directory

log = stage_logger(__name__, "prepare")

MIN_JAVA = 17

# The Python workers' environment with ``keep_worker_memory``: Arrow's allocator (mimalloc) hands freed pages
# back to the OS 10 ms after they are freed, and glibc's trims its heap and maps large blocks afresh, so every
# batch faulted its memory in again. Kept, a warm 100 MB prepare run's workers took 2,800 page faults instead of
# 72,000-80,000 and 0.11-0.18 s of system time instead of 0.31-0.50, for 20-60 MB more resident memory each
# (bench/RESULTS.md, "Prepare: workers that keep their memory").
KEEP_MEMORY_ENV = {
    "MIMALLOC_PURGE_DELAY": "-1",
    "MALLOC_TRIM_THRESHOLD_": str(256 << 20),
    "MALLOC_MMAP_THRESHOLD_": str(64 << 20),
}
# The Python workers' environment without ``huge_pages``: numpy (for arrays of 4 MB or more) and Arrow's mimalloc
# ask Linux for transparent huge pages, each zeroed whole, 2 MB at a time, when first touched. A prepare run's new
# workers spent 4-5 of their 17-18 core-seconds zeroing such pages (bench/RESULTS.md, "Prepare: one pool of Python
# workers, in small pages, and a JIT that waits for hot methods").
NO_HUGE_PAGES_ENV = {
    "MIMALLOC_ALLOW_THP": "0",
    "NUMPY_MADVISE_HUGEPAGE": "0",
}
# The JVM option of ``jit = "quick"``: the quick compiler (C1) alone.
QUICK_JIT = "-XX:TieredStopAtLevel=1"
# A local master and its cores, as Spark reads them: local, local[N], local[*], local[N, F] (F: task retries).
_LOCAL_MASTER = re.compile(r"local(?:\[(\*|\d+)(?:\s*,\s*\d+)?\])?")
# prctl(2) options: a process's "no transparent huge pages" flag, which its children inherit.
_PR_SET_THP_DISABLE, _PR_GET_THP_DISABLE = 41, 42


def java_executable() -> str | None:
    """The ``java`` that Spark will start (``JAVA_HOME``'s, else the first on ``PATH``), or None."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    return java if java and os.path.exists(java) else None


def java_major_version() -> int | None:
    """The major version of the Java that Spark will start, or None if there is none."""
    java = java_executable()
    if java is None:
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def check_java() -> None:
    version = java_major_version()
    if version is None:
        raise EnvironmentProblem(
            f"Spark needs Java {MIN_JAVA} or newer and none was found on PATH or in JAVA_HOME; "
            "install one (e.g. apt-get install openjdk-17-jre-headless) and retry")
    if version < MIN_JAVA:
        raise EnvironmentProblem(
            f"Spark needs Java {MIN_JAVA} or newer, found Java {version}; "
            "install openjdk-17-jre-headless (or newer) and point JAVA_HOME at it")


def _on_loopback(master: str) -> bool:
    """True for an embedded Spark and for a standalone master on this machine."""
    if not master or master.startswith("local"):
        return True
    host = urlparse(master).hostname or ""
    return host == "localhost" or host.startswith("127.")


def _submitted() -> bool:
    """True when this process was started by spark-submit (a gateway is already up)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def _started() -> bool:
    """True when this process's driver JVM is running already (an earlier session's, even one stopped since:
    PySpark keeps its gateway JVM for the process's life; or spark-submit's): its Java has been found and its
    options are settled, so neither is looked at again (two ``java`` launches, about 0.1 s, at every later
    session)."""
    from pyspark import SparkContext

    return _submitted() or SparkContext._gateway is not None


def local_parallelism(config: SparkConfig) -> int | None:
    """The default parallelism of the local Spark that ``config`` starts in this process (its master, or
    ``conf``'s, empty for ``local[*]``; ``conf``'s ``spark.default.parallelism`` wins over its cores), or
    None where its executors are elsewhere, or where settings this process cannot see may change it
    (spark-submit, ``PYSPARK_SUBMIT_ARGS``)."""
    if _submitted() or "PYSPARK_SUBMIT_ARGS" in os.environ:
        return None
    match = _LOCAL_MASTER.fullmatch(config.conf.get("spark.master", config.master) or "local[*]")
    if match is None:
        return None
    cores = match.group(1) or "1"
    every = str(len(os.sched_getaffinity(0)))
    parallelism = config.conf.get("spark.default.parallelism", every if cores == "*" else cores)
    return int(parallelism) if parallelism.isdigit() and int(parallelism) > 0 else None


def use_quick_jit(config: SparkConfig, small_rows_only: Callable[[int], bool] | None = None) -> bool:
    """Whether the JVMs compile with C1 alone (:data:`QUICK_JIT`): ``jit = "quick"``, or ``"auto"`` where this
    process is about to start a local Spark whose job, at its parallelism, moves only small rows through the
    JVM (``small_rows_only``, asked only then: it may look at every input file)."""
    if config.jit == "quick":
        return True
    parallelism = local_parallelism(config) if config.jit == "auto" and small_rows_only and not _started() else None
    return parallelism is not None and small_rows_only(parallelism)  # type: ignore[misc]


def session_settings(config: SparkConfig, quick: bool = False) -> dict[str, str]:
    """The Spark settings that ``[spark]`` asks for: its keys, then ``conf`` (which wins over them), then the
    workers' environment (:data:`KEEP_MEMORY_ENV`, :data:`NO_HUGE_PAGES_ENV`), the JVMs' ``java_options``
    (after :data:`QUICK_JIT` where ``quick``, so that an option of the user's wins) and the driver's class
    archive where neither conf nor spark-submit set them."""
    settings = {
        "spark.driver.memory": config.driver_memory,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "true",
        "spark.sql.session.timeZone": "UTC",
    }
    if config.executor_memory:
        settings["spark.executor.memory"] = config.executor_memory
    if config.executor_cores:
        settings["spark.executor.cores"] = str(config.executor_cores)
    settings.update(config.conf)
    env = {**(KEEP_MEMORY_ENV if config.keep_worker_memory else {}), **({} if config.huge_pages else NO_HUGE_PAGES_ENV)}
    wanted = {f"spark.executorEnv.{name}": value for name, value in env.items()}
    java_options = " ".join(filter(None, [QUICK_JIT if quick else "", config.java_options]))
    if java_options:
        wanted["spark.executor.extraJavaOptions"] = java_options
    driver_options = " ".join(filter(None, [java_options, _class_archive_option(config, settings)]))
    if driver_options:
        wanted["spark.driver.extraJavaOptions"] = driver_options
    settings.update(_not_set_already(settings, wanted))
    return settings


def _class_archive_option(config: SparkConfig, settings: dict[str, str]) -> str | None:
    """The driver JVM's class archive option (:mod:`shardvec.spark.class_archive`), where this process will
    start that JVM (under spark-submit, or after an earlier session, it is running already) with options and a
    class path of ours.

    Looks at the cache directory and runs ``java -version`` once: this is
    where a session's settings meet the machine.
    """
    java = java_executable()
    own = {"spark.driver.extraJavaOptions", "spark.driver.extraClassPath"} & settings.keys()
    if not config.class_archive or own or _started() or java is None:
        return None
    # Without the quick compiler's option: an archive holds classes, not compiled code, so one file serves both.
    return archive_option(default_directory(), java, config.driver_memory, config.java_options)


def _not_set_already(settings: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    """The settings of ``wanted`` that neither ``settings`` nor spark-submit set already."""
    wanted = {key: value for key, value in wanted.items() if key not in settings}
    if wanted and _submitted():
        from pyspark import SparkConf, SparkContext

        SparkContext._ensure_initialized()  # connect to spark-submit's JVM: without it SparkConf() is empty
        submitted = SparkConf()  # spark-submit's --conf, --driver-java-options and properties file
        wanted = {key: value for key, value in wanted.items() if not submitted.contains(key)}
    return wanted


@contextmanager
def without_huge_pages(wanted: bool = True) -> Iterator[None]:
    """This process without transparent huge pages while the block runs (Linux; elsewhere, and with
    ``wanted`` false, nothing changes); what it starts meanwhile keeps the flag for life (a Spark started
    in the block: its JVM, and in local mode its Python workers).

    Why: the driver of a prepare run spent 1.8 of its 3 core-seconds zeroing
    huge pages for Arrow's first allocations, and a Spark started in the block
    (in local mode, its Python workers too) inherits the flag. Why only for the
    block: the process may be the user's own Python, whose later work is none of
    prepare's business.
    """
    libc = ctypes.CDLL(None) if wanted and sys.platform.startswith("linux") else None
    if libc is not None:
        libc.prctl.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]
    before = libc.prctl(_PR_GET_THP_DISABLE, 0, 0, 0, 0) if libc is not None else -1
    changed = libc is not None and before >= 0 and libc.prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        if changed:
            libc.prctl(_PR_SET_THP_DISABLE, before, 0, 0, 0)


def spark_session(config: SparkConfig, small_rows_only: Callable[[int], bool] | None = None):
    """A SparkSession honouring ``[spark]``; prints where its UI is.

    ``small_rows_only``: for ``jit = "auto"``, whether the job the session
    is started for moves only small rows through the JVM, given the
    parallelism of the local Spark it would run on (:func:`use_quick_jit`);
    without it the JVMs keep their optimizing compiler, which whatever else
    a session runs may need. Pass it only where nothing else will run in
    this process's JVM: the JVM keeps its compiler for the process's life.
    """
    from pyspark.sql import SparkSession

    if not _started():
        check_java()
    if not _submitted():
        # Executors must run the interpreter that has shardvec installed, not whatever
        # "python3" is first on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(config.app_name)
    if _on_loopback(config.master) and not _submitted():
        # A Spark on this machine listens on loopback only (and stops warning about the hostname).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if config.master:
        builder = builder.master(config.master)
    elif not _submitted():
        builder = builder.master("local[*]")
    quick = use_quick_jit(config, small_rows_only)
    if quick and not _started():
        log.info(f"the JVMs compile with C1 alone ({QUICK_JIT}, spark.jit = {config.jit})")
    for key, value in session_settings(config, quick).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if config.shuffle_partitions:
        spark.conf.set("spark.sql.shuffle.partitions", str(config.shuffle_partitions))
    elif not spark.sparkContext.getConf().contains("spark.sql.shuffle.partitions"):
        # Spark's 200 is far too many for small inputs; a --conf from spark-submit is kept.
        spark.conf.set("spark.sql.shuffle.partitions", str(2 * spark.sparkContext.defaultParallelism))
    url = spark.sparkContext.uiWebUrl
    log.info(f"Spark {spark.version} master={spark.sparkContext.master}" + (f" UI={url}" if url else ""))
    return spark

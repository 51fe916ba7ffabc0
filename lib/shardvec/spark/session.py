"""Start or join a SparkSession the way a Spark user expects.

Under ``spark-submit`` the session is already configured and its ``--master``
wins; run from Python, an embedded ``local[*]`` Spark starts by itself. An
explicit ``spark.master`` in the config (or ``--master``) overrides both.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from urllib.parse import urlparse

from shardvec.config import SparkConfig
from shardvec.errors import EnvironmentProblem
from shardvec.logs import stage_logger

log = stage_logger(__name__, "prepare")

MIN_JAVA = 17


def java_major_version() -> int | None:
    """The major version of the Java that Spark will start, or None if there is none."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
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


def spark_session(config: SparkConfig):
    """A SparkSession honouring ``[spark]``; prints where its UI is."""
    from pyspark.sql import SparkSession

    if not _submitted():
        check_java()
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
    for key, value in settings.items():
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

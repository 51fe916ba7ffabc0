"""The driver JVM's class archive: which option a run gets, and a real JVM that writes one and a next that maps it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shardvec.spark.class_archive import archive_option
from shardvec.spark.session import java_executable

JAVA = java_executable()
pytestmark = pytest.mark.skipif(JAVA is None, reason="needs a Java")


def test_a_run_writes_the_archive_until_a_finished_one_is_there(tmp_path: Path) -> None:
    option = archive_option(str(tmp_path / "jvm"), JAVA)
    assert option is not None and option.startswith("-XX:ArchiveClassesAtExit=")
    path = Path(option.split()[0].split("=", 1)[1])
    assert path.parent == tmp_path / "jvm" and path.suffix == ".jsa"
    path.write_bytes(bytes(4096))  # a JVM stopped while writing: the header, written last, is still zeros
    assert archive_option(str(tmp_path / "jvm"), JAVA) == option
    path.write_bytes(b"\xa8\xab\x0b\xf0" + bytes(4092))  # a finished dynamic archive's magic
    assert archive_option(str(tmp_path / "jvm"), JAVA).startswith(f"-XX:SharedArchiveFile={path} ")
    (tmp_path / "file").write_text("")
    assert archive_option(str(tmp_path / "file" / "jvm"), JAVA) is None  # no directory to be had: no archive


def test_another_java_gets_another_archive(tmp_path: Path) -> None:
    """An archive is only good for the JVM build that wrote it: the file name follows ``java -version``."""
    names = set()
    for build in ("17.0.1", "17.0.2"):
        java = tmp_path / build / "java"
        java.parent.mkdir()
        java.write_text(f"#!/bin/sh\necho 'openjdk version \"{build}\"' >&2\n")
        java.chmod(0o755)
        names.add(archive_option(str(tmp_path / "jvm"), str(java)))
    names.add(archive_option(str(tmp_path / "jvm"), JAVA))
    assert len(names) == 3


_SESSION = """
from shardvec.config import SparkConfig
from shardvec.spark.session import spark_session
spark = spark_session(SparkConfig(master="local[1]"))
spark.range(100).selectExpr("sum(id)").collect()
arguments = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
print("archive:", " ".join(a for a in arguments if "Archive" in a))
"""


def _driver(cache: Path, log: Path | None = None) -> tuple[str, str]:
    """A Python process that starts Spark as a user's would: the archive option its JVM was given, and all that
    the process and its JVM (to its end: the pipe closes when both have exited) printed."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    if log is not None:  # which classes came from where, as the JVM loaded them
        env["JAVA_TOOL_OPTIONS"] = f"-Xlog:class+load=info:file={log}"
    done = subprocess.run([sys.executable, "-c", _SESSION], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    told = next(line for line in done.stdout.splitlines() if line.startswith("archive:"))
    return told.split()[1], done.stdout + done.stderr


def _mapped(archive: Path) -> bool:
    """Whether the next run will map ``archive`` (its JVM has finished writing it)."""
    return archive_option(str(archive.parent), JAVA).startswith(f"-XX:SharedArchiveFile={archive} ")


@pytest.mark.slow
def test_a_driver_jvm_archives_its_classes_at_exit_and_the_next_maps_them(tmp_path: Path) -> None:
    first, printed = _driver(tmp_path)
    assert first.startswith("-XX:ArchiveClassesAtExit=")
    assert "[cds]" not in printed  # the JVM names no class it leaves out of the archive
    archive = Path(first.split("=", 1)[1])
    deadline = time.monotonic() + 300  # the JVM writes it as it exits, after its Python process has gone
    while time.monotonic() < deadline and not _mapped(archive):
        time.sleep(1)
    assert _mapped(archive)
    second, _ = _driver(tmp_path, log=tmp_path / "classes.log")
    assert second == f"-XX:SharedArchiveFile={archive}"
    # Spark's own classes came from the archive (its "top" layer, above the JDK's base archive).
    loaded = (tmp_path / "classes.log").read_text()
    assert "org.apache.spark.SparkContext source: shared objects file (top)" in loaded

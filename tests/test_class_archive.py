"""The driver JVM's class archive: which option a run gets, and a real JVM that writes one and a next that maps it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import shardvec.spark.class_archive as class_archive
from shardvec.spark.class_archive import archive_option
from shardvec.spark.session import java_executable

JAVA = java_executable()
pytestmark = pytest.mark.skipif(JAVA is None, reason="needs a Java")
FINISHED = b"\xa8\xab\x0b\xf0" + bytes(4092)  # a finished dynamic archive's magic; the JVM writes the header last


def _option(directory: Path, java: str | None = JAVA) -> str | None:
    return archive_option(str(directory), java, "1g", "-XX:CompileThresholdScaling=5")


def _path(option: str) -> Path:
    return Path(option.split()[0].split("=", 1)[1])


def test_a_run_writes_its_own_file_until_a_finished_one_has_the_archives_name(tmp_path: Path) -> None:
    option = _option(tmp_path)
    assert option is not None and option.startswith("-XX:ArchiveClassesAtExit=")
    mine = _path(option)
    assert mine.parent == tmp_path and mine.name.endswith(f".{os.getpid()}.tmp")
    mine.write_bytes(bytes(4096))  # being written (recent): left alone
    assert _option(tmp_path) == option and mine.exists()
    key = mine.name.split(".")[0]
    abandoned = tmp_path / f"{key}.1.tmp"  # unfinished and older than any writing: removed
    abandoned.write_bytes(bytes(4096))
    os.utime(abandoned, (time.time() - 3600, time.time() - 3600))
    _option(tmp_path)
    assert not abandoned.exists() and mine.exists()
    other = tmp_path / f"{key}.2.tmp"  # a run that finished: linked to the archive's name
    other.write_bytes(FINISHED)
    option = _option(tmp_path)
    archive = tmp_path / f"{key}.jsa"
    assert option == f"-XX:SharedArchiveFile={archive} -Xlog:cds*=off" and archive.read_bytes() == FINISHED
    assert not other.exists()
    (tmp_path / f"{key}.3.tmp").write_bytes(FINISHED[:4] + b"x" * 10)
    assert _option(tmp_path) == option and archive.read_bytes() == FINISHED  # a name once there stays


def _refused(*args: object, **kwargs: object) -> None:
    raise PermissionError("read-only file system")


def test_no_archive_where_the_jvm_could_not_write_or_use_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("")
    assert _option(tmp_path / "file" / "jvm") is None  # no directory to be had
    assert _option(tmp_path / "a b") is None  # Spark's launcher would split the option at the space
    with monkeypatch.context() as patch:  # a directory that takes no new file (root writes to any: simulated)
        patch.setattr(class_archive.tempfile, "NamedTemporaryFile", _refused)
        assert _option(tmp_path / "read-only") is None
    assert _option(tmp_path / "read-only") is not None
    monkeypatch.setattr(class_archive, "_ROOM_BYTES", 1 << 62)
    assert _option(tmp_path / "full") is None
    monkeypatch.undo()
    conf = tmp_path / "conf"
    conf.mkdir()
    monkeypatch.setenv("SPARK_CONF_DIR", str(conf))
    assert _option(tmp_path / "jvm") is not None  # an empty configuration directory is no obstacle
    (conf / "spark-defaults.conf").write_text("")
    assert _option(tmp_path / "jvm") is None  # the JVM refuses a non-empty directory before the jars
    monkeypatch.delenv("SPARK_CONF_DIR")
    no_base = tmp_path / "jre" / "java"  # a Java that maps no base archive: -Xshare:on fails
    no_base.parent.mkdir()
    no_base.write_text("#!/bin/sh\necho 'An error has occurred while processing the shared archive file.' >&2\nexit 1\n")
    no_base.chmod(0o755)
    assert _option(tmp_path / "jvm", str(no_base)) is None


def test_another_java_build_or_heap_gets_another_archive(tmp_path: Path) -> None:
    """An archive is only good for the JVM build and heap that wrote it: the file name follows both."""
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    names = set()
    for build in ("17.0.1", "17.0.2"):
        java.write_text(f"#!/bin/sh\necho 'openjdk version \"{build}\"' >&2\n")  # the same path, another build
        java.chmod(0o755)
        names.add(_path(_option(tmp_path / "jvm", str(java))).name.split(".")[0])
    names.add(_path(archive_option(str(tmp_path / "jvm"), str(java), "8g", "")).name.split(".")[0])
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


@pytest.mark.slow
def test_a_driver_jvm_archives_its_classes_at_exit_and_a_later_run_maps_them(tmp_path: Path) -> None:
    first, printed = _driver(tmp_path)
    assert first.startswith("-XX:ArchiveClassesAtExit=")
    assert "[cds]" not in printed and "shared archive" not in printed.lower()  # nothing of it on the console
    written = _path(first)
    deadline = time.monotonic() + 120  # the JVM writes it as it exits, after its Python process has gone
    while time.monotonic() < deadline and written.read_bytes()[:4] != FINISHED[:4]:
        time.sleep(1)
    second, _ = _driver(tmp_path)  # gives the finished file the archive's name, and maps it
    archive = written.with_name(written.name.split(".")[0] + ".jsa")
    assert second == f"-XX:SharedArchiveFile={archive}"
    third, _ = _driver(tmp_path, log=tmp_path / "classes.log")
    assert third == second
    # Spark's own classes came from the archive (its "top" layer, above the JDK's base archive).
    loaded = (tmp_path / "classes.log").read_text()
    assert "org.apache.spark.SparkContext source: shared objects file (top)" in loaded

"""A class-data-sharing archive of the driver JVM's classes: written by one run, mapped by the next.

Why: a prepare command is one run in a new JVM, and half of the time the JVM's
planning thread spent in a first run went to loading, linking and verifying
Spark's classes (``perf``: 45 % in ``libjvm.so``, 6 % in ``libz`` reading the
jars). JDK 17 can write the classes a run loaded to an archive when the JVM
exits (``-XX:ArchiveClassesAtExit``) and map that archive, already parsed and
verified, into a later JVM (``-XX:SharedArchiveFile``): a whole ``shardvec
prepare`` of the benchmark's 100 MB took 14.1-16.4 s with one instead of
18.9-22.5 (``bench/RESULTS.md``, "Prepare: the driver's classes from an
archive").

How it stays out of the way:

* an archive is only good for the JVM and class path that wrote it, so its
  name is a digest of them (the Java build, Spark's jars, the heap size and
  JVM options), and nothing is archived where the class path holds what
  the JVM cannot archive (a non-empty directory before the jars: a
  ``SPARK_CONF_DIR`` with files, an extra class path);
* each run writes its own file (``spark-<key>.<pid>.tmp``); a later run
  links a finished one (its header, which the JVM writes last, in place)
  to the archive's name, which is never replaced once there, so no JVM ever
  maps a file another is writing, and removes unfinished ones too old to be
  in the writing;
* nothing is asked of a JVM that cannot do it: no Java without a base
  archive (``-Xshare:on`` fails), no directory it could not write or fill
  (the JVM would say so on the console as it exits), no path Spark's
  launcher would split;
* the JVM's notes on archiving (it names each class it leaves out) stay
  off the console (``-Xlog:cds*=off``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

# The first bytes of a finished JDK dynamic archive: its magic number, 0xf00baba8, little-endian.
_DYNAMIC_MAGIC = b"\xa8\xab\x0b\xf0"
_QUIET = "-Xlog:cds*=off"
# Room an archive needs (about 170 MB after a prepare run), with a margin.
_ROOM_BYTES = 512 << 20
# Longer than a JVM takes to write an archive as it exits (seconds): an unfinished file older is abandoned.
_WRITING_SECONDS = 600
# Paths Spark's launcher passes on as one option: no spaces or quotes to split them at.
_PLAIN_PATH = re.compile(r"[\w./+@:,=-]+")


def default_directory() -> str:
    """Where archives live: the user's cache directory."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "shardvec", "jvm")


def archive_option(directory: str, java: str, driver_memory: str, java_options: str) -> str | None:
    """The driver JVM's option: map this setup's archive where a finished one exists, else write one at exit;
    None where this setup cannot have one (see the module's notes: the run goes on without)."""
    if not _PLAIN_PATH.fullmatch(directory) or _conf_directory_in_the_way() or not _room_in(directory):
        return None
    key = _setup_key(java, driver_memory, java_options)
    if key is None:
        return None
    final = os.path.join(directory, f"spark-{key}.jsa")
    _promote_finished(directory, key, final)
    if _finished(final):
        return f"-XX:SharedArchiveFile={final} {_QUIET}"
    return f"-XX:ArchiveClassesAtExit={os.path.join(directory, f'spark-{key}.{os.getpid()}.tmp')} {_QUIET}"


def _finished(path: str) -> bool:
    try:
        with open(path, "rb") as archive:
            return archive.read(len(_DYNAMIC_MAGIC)) == _DYNAMIC_MAGIC
    except OSError:
        return False


def _promote_finished(directory: str, key: str, final: str) -> None:
    """Give a finished archive of this key its name (a link: the name, once there, is never replaced), and
    remove unfinished files older than any JVM takes to write one (a run stopped while writing)."""
    for written in Path(directory).glob(f"spark-{key}.*.tmp"):
        try:
            if _finished(str(written)):
                try:
                    os.link(written, final)
                except FileExistsError:
                    pass
                except OSError:  # a file system without links: a rename, while nothing has the name yet
                    if not os.path.exists(final):
                        os.replace(written, final)
                        continue
            elif time.time() - written.stat().st_mtime < _WRITING_SECONDS:
                continue  # its JVM may be writing it still
            written.unlink(missing_ok=True)
        except OSError:  # another run got there first
            continue


def _room_in(directory: str) -> bool:
    """Whether ``directory`` exists or can be made, takes a new file, and has room for an archive."""
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
        return shutil.disk_usage(directory).free >= _ROOM_BYTES
    except OSError:
        return False


def _spark_home() -> Path:
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home())


def _conf_directory_in_the_way() -> bool:
    """Whether Spark's launcher puts a non-empty directory before the jars on the driver's class path (its
    configuration directory), which the JVM refuses to archive."""
    conf = Path(os.environ.get("SPARK_CONF_DIR") or _spark_home() / "conf")
    return conf.is_dir() and any(conf.iterdir())


def _setup_key(java: str, driver_memory: str, java_options: str) -> str | None:
    """A digest of what an archive is only good for: the Java (its path and build), Spark's jars (names and
    sizes), the heap size and the JVM options; None where this Java maps no base archive, without which it
    cannot write one (a ``jlink`` image, ``-Xshare:off``: it would fail to start)."""
    heap = [f"-Xmx{driver_memory}"] if driver_memory else []
    try:
        probe = subprocess.run([java, "-Xshare:on", *heap, *java_options.split(), "-version"],
                               capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if probe.returncode != 0:
        return None
    build = [line for line in probe.stderr.splitlines() if not line.startswith("Picked up ")]  # JAVA_TOOL_OPTIONS
    jars = _spark_home() / "jars"
    listing = sorted((p.name, p.stat().st_size) for p in jars.glob("*.jar")) if jars.is_dir() else []
    setup = (os.path.realpath(java), build, str(jars), listing, driver_memory, java_options)
    return hashlib.sha256(repr(setup).encode()).hexdigest()[:16]

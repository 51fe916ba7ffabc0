"""A class-data-sharing archive of the driver JVM's classes: made at the end of one run, mapped by the next.

Why: a prepare command is one run in a new JVM, and half of the time the JVM's
planning thread spent in a first run went to loading, linking and verifying
Spark's classes (``perf``: 45 % in ``libjvm.so``, 6 % in ``libz`` reading the
jars). JDK 17 can write the classes a run loaded to an archive when the JVM
exits (``-XX:ArchiveClassesAtExit``) and map that archive, already parsed and
verified, into a later JVM (``-XX:SharedArchiveFile``): a whole ``shardvec
prepare`` of the benchmark's 100 MB took 15.3-16.4 s with one instead of
21.3-22.5 (``bench/RESULTS.md``, "Prepare: the driver's classes from an
archive"); the run that writes it ends 3-4 s later.

Why it is safe to leave to the JVM: it writes the archive's header last (a
JVM killed while writing leaves a file whose header is zeros, which
:func:`archive_option` does not take for an archive, so the next run writes a
new one), and a JVM given an archive it cannot use (another JDK build, another
class path) runs without it, silently. Two runs writing at once each replace
the file whole. The archive is keyed by what it depends on (the Java, Spark's
jars), so an upgrade starts a new one.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

# The first bytes of a finished JDK dynamic archive: its magic number, 0xf00baba8, little-endian.
_DYNAMIC_MAGIC = b"\xa8\xab\x0b\xf0"
# The JVM's notes on archiving, off: as it exits it names on the console each class it leaves out (Spark's
# generated accessors among them), after the user's command has finished.
_QUIET = "-Xlog:cds*=off"


def default_directory() -> str:
    """Where archives live unless ``spark.class_archive`` says otherwise: the user's cache directory."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "shardvec", "jvm")


def archive_option(directory: str, java: str) -> str | None:
    """The driver JVM's option: map this setup's archive where a finished one exists, else write it at exit;
    None where ``directory`` cannot be made (a read-only home: the run goes on without an archive)."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return None
    path = os.path.join(directory, f"spark-{_setup_key(java)}.jsa")
    if _finished(path):
        return f"-XX:SharedArchiveFile={path} {_QUIET}"
    return f"-XX:ArchiveClassesAtExit={path} {_QUIET}"


def _finished(path: str) -> bool:
    try:
        with open(path, "rb") as archive:
            return archive.read(len(_DYNAMIC_MAGIC)) == _DYNAMIC_MAGIC
    except OSError:
        return False


def _setup_key(java: str) -> str:
    """A digest of what an archive is only good for: the Java (its build, from ``java -version``, and its
    path) and Spark's jars (their names and sizes)."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    listing = sorted((p.name, p.stat().st_size) for p in jars.glob("*.jar")) if jars.is_dir() else []
    said = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    version = [line for line in said.splitlines() if not line.startswith("Picked up ")]  # JAVA_TOOL_OPTIONS' echo
    digest = hashlib.sha256(repr((os.path.realpath(java), version, pyspark.__version__, listing)).encode())
    return digest.hexdigest()[:16]

"""deploy/pack.sh, honestly: a packed environment that runs prepare on a Spark standalone cluster.

Real everything: pack.sh builds a fresh virtual environment, installs this
checkout into it non-editable with exactly the dependencies pyproject.toml
declares, and packs it with venv-pack. The test unpacks the archive somewhere
else, moves the original environment out of the way, starts a Spark standalone
master and worker *from the unpacked environment's pyspark* (cluster.sh
--no-dask), and submits jobs/prepare.py with the unpacked environment's
spark-submit and ``--archives env.tar.gz#env``: the executors unpack the
archive themselves and run ``./env/bin/python``.

It needs the package index (or pip's cache) for the install, like any pip install,
and takes about two minutes; the environment is ~1 GB, so it runs once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import gensim_data
from test_cluster_local import REPO, started_cluster

PACK = REPO / "deploy" / "pack.sh"


def _clean_env(tmp: Path) -> dict[str, str]:
    """A user's shell with none of this test run's Python environment in it."""
    java = shutil.which("java")
    path = ["/usr/local/bin", "/usr/bin", "/bin"]
    if java:
        path.insert(0, str(Path(java).parent))
    env = {"HOME": os.environ.get("HOME", str(tmp)), "PATH": ":".join(path), "LANG": "C.UTF-8",
           "TMPDIR": str(tmp)}
    if "JAVA_HOME" in os.environ:
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    return env


@pytest.fixture
def workdir(tmp_path: Path):
    """tmp_path, with the ~4 GB of environments and archive removed afterwards (logs stay)."""
    yield tmp_path
    for big in ("build-env", "build-env.moved", "node", "dist", "cluster/spark-work"):
        shutil.rmtree(tmp_path / big, ignore_errors=True)


@pytest.mark.slow
def test_packed_env_runs_prepare_on_a_standalone_cluster(workdir: Path) -> None:
    tmp_path = workdir
    archive = tmp_path / "dist" / "env.tar.gz"
    build = tmp_path / "build-env"
    pack = subprocess.run(
        ["bash", str(PACK), "--output", str(archive), "--venv", str(build), "--compress-level", "1"],
        env={**os.environ, "PYTHON": sys.executable, "TMPDIR": str(tmp_path)},
        capture_output=True, text=True, timeout=1200)
    assert pack.returncode == 0, pack.stderr[-4000:]
    assert pack.stdout.strip() == str(archive)
    assert archive.stat().st_size > 50_000_000
    assert "which every node must have" in pack.stderr

    # The original environment goes out of the way: the archive must stand alone.
    build.rename(tmp_path / "build-env.moved")
    node = tmp_path / "node"
    (node / "env").mkdir(parents=True)
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(node / "env")], check=True)
    env = _clean_env(tmp_path)
    activate = f"source {node / 'env' / 'bin' / 'activate'} && "
    where = subprocess.run(
        ["bash", "-c", activate + "python -c 'import shardvec, pyspark, sys; print(shardvec.__file__); "
         "print(pyspark.__file__); print(sys.prefix)'"],
        env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.split():
        assert line.startswith(str(node / "env")), where.stdout  # non-editable, relocated
    for script in (node / "env" / "bin").iterdir():
        if script.is_file() and not script.is_symlink():
            assert str(build) not in script.read_text(errors="replace"), f"{script} still points at the build env"

    # A Spark standalone cluster run from the unpacked environment's pyspark.
    state = tmp_path / "cluster"
    with started_cluster(state, "--no-dask", env={**env, "PYTHON": str(node / "env" / "bin" / "python")}) as cluster:
        master = cluster.exports["SPARK_MASTER"]
        assert set(cluster.exports) == {"SPARK_MASTER"}
        submit_dir = tmp_path / "submit"  # no ./env here: only the executors unpack one
        submit_dir.mkdir()
        corpus = tmp_path / "corpus"
        cmd = (activate + 'spark-submit --master "$1" --archives "$2#env" '
               "--conf spark.pyspark.python=./env/bin/python "
               '--conf spark.pyspark.driver.python="$3" --driver-memory 1g --conf spark.executor.memory=1g '
               "--conf spark.executor.extraJavaOptions=-Dshardvec.submitted=1 "
               '"$4" --input "$5" --output "$6" --shards 2 --set vocab.min_count=2')
        job = subprocess.run(
            ["bash", "-c", cmd, "-", master, str(archive), str(node / "env" / "bin" / "python"),
             str(REPO / "jobs" / "prepare.py"), gensim_data("lee_background.cor"), str(corpus)],
            env={**env, "SPARK_LOCAL_IP": "127.0.0.1"}, cwd=submit_dir, capture_output=True, text=True,
            timeout=600)
        # spark-submit merges the Python driver's stderr into its stdout.
        output = job.stdout + job.stderr
        assert job.returncode == 0, output[-4000:]
        assert f"master={master}" in output
        assert (corpus / "_SUCCESS").is_file()
        manifest = json.loads((corpus / "manifest.json").read_text())
        assert manifest["records"]["in"] == 300 and manifest["vocab"]["size"] > 1000
        assert len(list((corpus / "shards").glob("*.parquet"))) == 2
        # The executor unpacked the archive into its working directory and ran its Python.
        unpacked = list(Path(cluster.info["SPARK_WORK_DIR"]).glob("app-*/*/env/bin/python"))
        assert unpacked, "the executor did not unpack env.tar.gz"
        assert list(unpacked[0].parent.parent.glob("lib/python3.*/site-packages/shardvec/cli.py"))
        # spark-submit's --conf wins over prepare's own JVM options (the executor's log begins with its command).
        command = next(Path(cluster.info["SPARK_WORK_DIR"]).glob("app-*/*/stderr")).read_text().split("\n")[0]
        assert "-Dshardvec.submitted=1" in command and "CompileThresholdScaling" not in command, command

"""End to end on a real local cluster: deploy/local/cluster.sh, then the CLI as a user runs it.

A Spark standalone master + worker and a Dask scheduler + 2 workers are
started by the script (real JVMs and Python processes, loopback only);
``shardvec prepare --master``, ``shardvec train --scheduler``, ``shardvec
evaluate`` and ``python jobs/train.py`` run against them as subprocesses. The
cluster is always stopped, and the teardown checks that no process it started
(nor any child of one) survives.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from helpers import gensim_data

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "deploy" / "local" / "cluster.sh"
BIN = Path(sys.executable).parent
SMALL_TRAIN = ["--set", "train.vector_size=32", "--set", "train.epochs=1", "--set", "train.rounds_per_epoch=2",
               "--set", "train.evaluate=false"]


# ------------------------------------------------------------------ processes, read from /proc
def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process, or None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


@dataclass(frozen=True)
class Proc:
    name: str
    pid: int
    start: int

    def alive(self) -> bool:
        """The very same process (PID and start time) still runs; a zombie counts as gone."""
        st = _stat(self.pid)
        return st is not None and st[0] not in ("Z", "X") and st[2] == self.start


def recorded(state: Path) -> list[Proc]:
    """The processes cluster.sh recorded (pids while running, pids.stopped after stop)."""
    path = state / "pids" if (state / "pids").exists() else state / "pids.stopped"
    return [Proc(n, int(p), int(s)) for n, p, s in (line.split() for line in path.read_text().splitlines())]


def with_descendants(procs: list[Proc]) -> list[Proc]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) and st[0] not in ("Z", "X"):
            children.setdefault(st[1], []).append(int(entry.name))
    out = list(procs)
    queue = [p for p in procs if p.alive()]
    while queue:
        parent = queue.pop()
        for pid in children.get(parent.pid, []):
            if (st := _stat(pid)) is not None:
                child = Proc(f"{parent.name}/child", pid, st[2])
                out.append(child)
                queue.append(child)
    return out


def listening_addresses(procs: list[Proc]) -> dict[str, list[str]]:
    """name -> the local addresses of the TCP sockets the process listens on."""
    listening: dict[str, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A":  # LISTEN
                listening[cols[9]] = cols[1]
    found: dict[str, list[str]] = {}
    for p in procs:
        try:
            links = [os.readlink(f"/proc/{p.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{p.pid}/fd")]
        except OSError:
            continue
        for link in links:
            m = re.fullmatch(r"socket:\[(\d+)\]", link)
            if m and m.group(1) in listening:
                found.setdefault(f"{p.name}({p.pid})", []).append(listening[m.group(1)])
    return found


LOOPBACK_HEX = ("0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000")


# ------------------------------------------------------------------ the cluster
@dataclass
class Cluster:
    state: Path
    exports: dict[str, str]
    info: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    stdout: str = ""

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, **self.exports, "SPARK_LOCAL_IP": "127.0.0.1", **extra}
        env.pop("PYTHONPATH", None)
        return env


def run_script(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout)


@contextmanager
def started_cluster(state: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """cluster.sh start ... ; yield ; cluster.sh stop, then check nothing it started survives."""
    env = dict(os.environ if env is None else env)
    env.setdefault("PYTHON", sys.executable)
    procs: list[Proc] = []
    try:
        start = run_script("start", "--state", str(state), "--timeout", "240", *args, env=env, timeout=300)
        assert start.returncode == 0, f"cluster.sh start failed:\n{start.stderr}"
        lines = start.stdout.splitlines()
        exports = dict(line.removeprefix("export ").split("=", 1) for line in lines)
        info = dict(line.split("=", 1) for line in (state / "cluster.env").read_text().splitlines())
        yield Cluster(state, exports, info, recorded(state), start.stdout)
    finally:
        if (state / "pids").exists():
            procs = with_descendants(recorded(state))
        stop = run_script("stop", "--state", str(state), env=env, timeout=300)
        survivors = [p for p in procs if p.alive()]
        for p in survivors:  # never leave strays behind, even when the script failed
            os.kill(p.pid, signal.SIGKILL)
        assert stop.returncode == 0, f"cluster.sh stop failed:\n{stop.stderr}"
        assert not survivors, f"processes survived cluster.sh stop: {survivors}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with started_cluster(tmp_path_factory.mktemp("cluster") / "state", "--workers", "2") as c:
        yield c


def master_status(cluster: Cluster) -> dict:
    with urllib.request.urlopen(cluster.info["SPARK_MASTER_WEBUI"] + "/json/", timeout=10) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def prepared(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """`shardvec prepare --master $SPARK_MASTER` on gensim's Lee corpus."""
    corpus = tmp_path_factory.mktemp("prepare") / "corpus"
    proc = subprocess.run(
        [str(BIN / "shardvec"), "prepare", "--master", cluster.exports["SPARK_MASTER"],
         "--input", gensim_data("lee_background.cor"), "--output", str(corpus), "--shards", "2",
         "--set", "vocab.min_count=2", "--set", "spark.driver_memory=1g", "--set", "spark.executor_memory=1g"],
        env=cluster.env(), capture_output=True, text=True, timeout=400, cwd=corpus.parent)
    return corpus, proc


# ------------------------------------------------------------------ tests
def test_start_prints_two_exports_and_everything_listens_on_loopback(cluster: Cluster) -> None:
    lines = cluster.stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"export SPARK_MASTER=spark://127\.0\.0\.1:\d+", lines[0])
    assert re.fullmatch(r"export DASK_SCHEDULER_ADDRESS=tcp://127\.0\.0\.1:\d+", lines[1])
    # What a user does with them: eval in a shell.
    shell = subprocess.run(["bash", "-c", 'eval "$1"; echo "$SPARK_MASTER $DASK_SCHEDULER_ADDRESS"', "-",
                            cluster.stdout], capture_output=True, text=True, check=True)
    assert shell.stdout.split() == [cluster.exports["SPARK_MASTER"], cluster.exports["DASK_SCHEDULER_ADDRESS"]]

    names = [p.name for p in cluster.procs]
    assert names == ["spark-master", "spark-worker", "dask-scheduler", "dask-worker-0", "dask-worker-1"]
    assert all(p.alive() for p in cluster.procs)
    status = run_script("status", "--state", str(cluster.state))
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count(" running") == 5

    # Spark's worker registered with the master, with the limited resources.
    workers = [w for w in master_status(cluster)["workers"] if w["state"] == "ALIVE"]
    assert len(workers) == 1 and workers[0]["cores"] == 2 and workers[0]["memory"] == 2048

    # Every listening socket of every process the script started is on loopback.
    addresses = listening_addresses(with_descendants(cluster.procs))
    assert {name.split("(")[0] for name in addresses} >= set(names)
    for name, addrs in addresses.items():
        for addr in addrs:
            assert addr.split(":")[0] in LOOPBACK_HEX, f"{name} listens on {addr}"


def test_second_start_on_the_same_state_refuses_and_leaves_the_cluster_alone(cluster: Cluster) -> None:
    again = run_script("start", "--state", str(cluster.state), env={**os.environ, "PYTHON": sys.executable})
    assert again.returncode != 0
    assert again.stdout == ""
    assert "already running" in again.stderr
    assert all(p.alive() for p in cluster.procs)


def test_prepare_runs_on_the_standalone_master(cluster: Cluster, prepared) -> None:
    corpus, proc = prepared
    assert proc.returncode == 0, proc.stderr[-3000:]
    master = cluster.exports["SPARK_MASTER"]
    assert f"master={master}" in proc.stderr
    assert (corpus / "_SUCCESS").is_file()
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert manifest["config"]["spark"]["master"] == master
    assert manifest["records"]["in"] == 300 and manifest["vocab"]["size"] > 1000
    assert len(list((corpus / "shards").glob("*.parquet"))) == 2
    # The master ran the application, and the worker launched an executor for it.
    apps = master_status(cluster)["completedapps"] + master_status(cluster)["activeapps"]
    assert any(app["name"] == "shardvec-prepare" for app in apps), apps
    executors = list(Path(cluster.info["SPARK_WORK_DIR"]).glob("app-*/*/stderr"))
    assert executors, "the Spark worker launched no executor"


def test_train_and_evaluate_on_the_dask_scheduler(cluster: Cluster, prepared, tmp_path: Path) -> None:
    corpus, prep = prepared
    assert prep.returncode == 0, prep.stderr[-3000:]
    address = cluster.exports["DASK_SCHEDULER_ADDRESS"]
    out = tmp_path / "vectors"
    env = cluster.env()
    env.pop("DASK_SCHEDULER_ADDRESS")  # the flag alone must be enough
    # dask.n_workers=1 would show if a LocalCluster were started instead of joining ours (2 workers).
    train = subprocess.run(
        [str(BIN / "shardvec"), "train", "--scheduler", address, "--corpus", str(corpus), "--output", str(out),
         *SMALL_TRAIN, "--set", "dask.n_workers=1"],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-3000:]
    assert f"[train] Dask scheduler {address} " in train.stderr
    assert (out / "_SUCCESS").is_file()
    report = json.loads((out / "train_report.json").read_text())
    assert report["workers"] == 2

    from gensim.models import KeyedVectors

    manifest = json.loads((corpus / "manifest.json").read_text())
    kv = KeyedVectors.load_word2vec_format(str(out / "vectors.bin"), binary=True)
    assert len(kv) == manifest["vocab"]["size"] == report["vocab_size"]
    assert kv.vector_size == 32

    scores_file = tmp_path / "scores.json"
    ev = subprocess.run([str(BIN / "shardvec"), "evaluate", "--vectors", str(out), "--output", str(scores_file)],
                        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr[-3000:]
    scores = json.loads(scores_file.read_text())
    assert scores["vocab_size"] == len(kv)
    assert "analogy" in scores and "wordsim353" in scores
    assert "analogy accuracy" in ev.stdout


def test_jobs_train_py_joins_the_scheduler_from_the_environment(cluster: Cluster, prepared, tmp_path: Path) -> None:
    """A batch script's view: only $DASK_SCHEDULER_ADDRESS, no --scheduler flag."""
    corpus, prep = prepared
    assert prep.returncode == 0, prep.stderr[-3000:]
    address = cluster.exports["DASK_SCHEDULER_ADDRESS"]
    env = {k: v for k, v in cluster.env().items() if k != "SPARK_MASTER"}
    assert env["DASK_SCHEDULER_ADDRESS"] == address
    out = tmp_path / "job-vectors"
    job = subprocess.run(
        [sys.executable, str(REPO / "jobs" / "train.py"), "--corpus", str(corpus), "--output", str(out),
         *SMALL_TRAIN, "--set", "dask.n_workers=1"],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert job.returncode == 0, job.stderr[-3000:]
    assert f"[train] Dask scheduler {address} " in job.stderr
    assert json.loads((out / "train_report.json").read_text())["workers"] == 2
    assert (out / "_SUCCESS").is_file()

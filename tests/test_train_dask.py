"""Training on real Dask clusters: scheduler and worker processes, worker loss, resume, addresses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from helpers import gensim_data, prepared_corpus, small_config

from shardvec import api
from shardvec.cli import main
from shardvec.config import Config
from shardvec.errors import ConfigError
from shardvec.train.model_io import load_model
from shardvec.train.rules import DEFAULT_RULE

BIN = Path(sys.executable).parent


def base_config() -> Config:
    """Rounds long enough that a worker can be killed in the middle of one."""
    return small_config(vector_size=48, window=8, negative=10, epochs=3, rounds_per_epoch=4)


@pytest.fixture(scope="module")
def corpus(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dask-corpus")
    return prepared_corpus(base_config(), [gensim_data("lee_background.cor")], root / "corpus")


def scheduler_address(scheduler_file: Path, scheduler: subprocess.Popen, log: Path, timeout: float = 60) -> str:
    """The address a `dask scheduler` wrote to its scheduler file once listening; fails with its log if it ended.

    Why not a free port picked here: between closing it and the scheduler binding it, a worker started
    alongside once bound it first, the scheduler died, and the client hung on the worker's port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if scheduler.poll() is not None:
            pytest.fail(f"dask scheduler exited with {scheduler.returncode}:\n{log.read_text()}")
        try:
            return json.loads(scheduler_file.read_text())["address"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            time.sleep(0.1)
    pytest.fail(f"dask scheduler wrote no address in {timeout:.0f} s:\n{log.read_text()}")


@pytest.fixture
def dask_processes(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A `dask scheduler` (on a port of its own choosing) and two `dask worker` processes, on loopback."""
    from distributed import Client

    log_path, scheduler_file = tmp_path / "dask.log", tmp_path / "scheduler.json"
    log = log_path.open("w")
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--scheduler-file", str(scheduler_file), "--no-dashboard"], stdout=log, stderr=log)]
    try:
        address = scheduler_address(scheduler_file, procs[0], log_path)
        for i in range(2):
            procs.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-nanny",
                 "--no-dashboard", "--name", f"w{i}", "--local-directory", str(tmp_path / f"w{i}")],
                stdout=log, stderr=log))
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, procs[1:]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a worker still closing gracefully on a loaded machine
                p.kill()
                p.wait(timeout=30)
        log.close()


def last_checkpoint(output: Path) -> int:
    """The latest round with a complete checkpoint, -1 before the first (older ones are removed as it goes)."""
    try:
        done = [int(p.parent.name.split("-")[1]) for p in (output / "checkpoints").glob("round-*/_SUCCESS")]
    except OSError:  # a checkpoint removed while it was listed
        return -1
    return max(done, default=-1)


def wait_for_round(output: Path, round_index: int, timeout: float = 300, proc: subprocess.Popen | None = None,
                   log: Path | None = None) -> None:
    """Wait until round ``round_index`` or a later one is checkpointed.

    Only the latest checkpoint is kept, so a wait for one round's directory
    can miss it on a busy machine. A run in ``proc`` that ends first, or a
    timeout, fails with the tail of its ``log``.
    """
    deadline = time.monotonic() + timeout
    while last_checkpoint(output) < round_index:
        ended = proc is not None and proc.poll() is not None
        if ended or time.monotonic() > deadline:
            why = f"the run ended with exit code {proc.returncode}" if ended else f"{timeout:.0f} s passed"
            tail = log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""
            raise TimeoutError(f"no checkpoint of round {round_index} or later in {output}: {why}\n{tail}")
        time.sleep(0.02)


def mean_cosine(a: Path, b: Path, top: int = 200) -> float:
    from gensim.models import KeyedVectors

    ka = KeyedVectors.load_word2vec_format(str(a / "vectors.bin"), binary=True)
    kb = KeyedVectors.load_word2vec_format(str(b / "vectors.bin"), binary=True)
    va, vb = ka.vectors[:top], kb.vectors[:top]
    return float(np.mean(np.sum(va * vb, 1) / (np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1))))


@pytest.mark.parametrize("rule", [DEFAULT_RULE, "periodic"])
def test_worker_killed_mid_round_on_scheduler_and_worker_processes(
        corpus: Path, tmp_path: Path, dask_processes: tuple[str, list[subprocess.Popen]], rule: str) -> None:
    address, workers = dask_processes
    cfg = base_config()
    cfg.train.merge = rule
    cfg.dask.scheduler = address
    cfg.train.corpus, cfg.train.output = str(corpus), str(tmp_path / "killed")
    result: dict[str, object] = {}
    run = threading.Thread(target=lambda: result.setdefault("out", api.train(cfg)))
    run.start()
    wait_for_round(tmp_path / "killed", 2)
    workers[0].kill()  # abrupt loss while the next round's shard tasks run
    run.join(timeout=300)
    assert not run.is_alive() and result.get("out") == tmp_path / "killed"
    report = json.loads((tmp_path / "killed" / "train_report.json").read_text())
    assert len(report["round_log"]) == 12 and (tmp_path / "killed" / "_SUCCESS").is_file()

    # The same run with no failure, on the surviving worker, for comparison.
    clean = base_config()
    clean.train.merge = rule
    clean.dask.scheduler = address
    clean.train.corpus, clean.train.output = str(corpus), str(tmp_path / "clean")
    api.train(clean)
    # Same start, same data: only the lost worker's random draws differ (measured: 0.999).
    assert mean_cosine(tmp_path / "killed", tmp_path / "clean") > 0.95


@pytest.mark.parametrize("rule", [DEFAULT_RULE, "bmuf"])
def test_resume_after_the_client_is_killed(corpus: Path, tmp_path: Path, rule: str) -> None:
    out = tmp_path / "vectors"
    args = ["train", "--corpus", str(corpus), "--output", str(out), "--merge", rule, "--set", "train.vector_size=48",
            "--set", "train.window=8", "--set", "train.negative=10", "--set", "train.epochs=3",
            "--set", "train.rounds_per_epoch=8", "--set", "train.evaluate=false"]  # 24 short rounds to stop in
    log = tmp_path / "train.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([str(BIN / "shardvec"), *args], start_new_session=True, stdout=sink, stderr=sink)
    try:
        wait_for_round(out, 3, proc=proc, log=log)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client and its LocalCluster die together
        proc.wait()
    assert not (out / "_SUCCESS").exists() and not (out / "vectors.bin").exists()
    assert main(args) == 2, "an interrupted output is not silently overwritten"
    assert main([*args, "--resume"]) == 0
    report = json.loads((out / "train_report.json").read_text())
    assert report["resumed_from_round"] >= 4 and report["rounds"] == 24
    assert len(report["round_log"]) == 24 - report["resumed_from_round"]
    assert (out / "_SUCCESS").is_file()
    if rule == "bmuf":  # the rule's state (momentum) is checkpointed with the weights and read back
        saved = load_model(out / "checkpoints" / "round-00023")
        assert saved.state is not None and set(saved.state) == {"vectors", "output"}
        assert all(r["rule"]["momentum_norm"] > 0 for r in report["round_log"])
    # Resuming with other settings is refused rather than mixing two runs.
    assert main([*args[:-2], "--set", "train.evaluate=false", "--set", "train.window=3", "--resume"]) == 2


def test_scheduler_address_from_environment_and_idle_worker_warning(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=3, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0") as cluster:
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
        cfg = base_config()
        cfg.train.epochs, cfg.train.rounds_per_epoch = 1, 1
        cfg.train.corpus, cfg.train.output = str(corpus), str(tmp_path / "v")
        api.train(cfg)
    err = capfd.readouterr().err
    assert f"Dask scheduler {cluster.scheduler_address}" in err
    assert "3 workers but only 2 shard(s)" in err
    assert json.loads((tmp_path / "v" / "train_report.json").read_text())["workers"] == 3


def test_embedded_workers_run_without_the_statistical_profiler() -> None:
    import dask

    from shardvec.dask.cluster import dask_client

    config = Config().dask
    config.n_workers = 1
    with dask_client(config) as client:
        enabled = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
    assert list(enabled.values()) == [False]
    assert dask.config.get("distributed.worker.profile.enabled")  # the caller's own setting is untouched


def test_model_too_large_for_workers_is_refused_before_training(corpus: Path, tmp_path: Path) -> None:
    cfg = base_config()
    cfg.dask.n_workers, cfg.dask.memory_limit = 1, "400MB"
    cfg.train.vector_size = 4000
    cfg.train.corpus, cfg.train.output = str(corpus), str(tmp_path / "v")
    with pytest.raises(ConfigError, match="vocab.min_count"):
        api.train(cfg)
    assert not (tmp_path / "v" / "_SUCCESS").exists()


@pytest.mark.parametrize("rule", [DEFAULT_RULE, "periodic", "procrustes"])
def test_more_shards_than_the_fan_in_are_reduced_through_a_tree(
        spark, tmp_path: Path, capfd: pytest.CaptureFixture[str], rule: str) -> None:
    """Four shards on two workers: nodes of two, one root, every trainer starts from its result."""
    cfg = base_config()
    cfg.train.epochs, cfg.train.rounds_per_epoch, cfg.train.compute_loss, cfg.train.merge = 1, 2, False, rule
    corpus = prepared_corpus(cfg, [gensim_data("lee_background.cor")], tmp_path / "corpus", shards=4)
    cfg.train.corpus, cfg.train.output = str(corpus), str(tmp_path / "v")
    api.train(cfg)
    report = json.loads((tmp_path / "v" / "train_report.json").read_text())
    n_rounds = 2 if rule != "procrustes" else 1
    assert report["shards"] == 4 and [len(r["shard_seconds"]) for r in report["round_log"]] == [4] * n_rounds
    assert (tmp_path / "v" / "checkpoints" / f"round-0000{n_rounds - 1}" / "_SUCCESS").is_file()
    assert all(r["bytes_moved"] > 0 for r in report["round_log"])
    assert [r["loss"] for r in report["round_log"]] == [None] * n_rounds  # not asked for: not computed, not shown
    rounds = [line for line in capfd.readouterr().err.splitlines() if line.startswith("[train] round")]
    assert len(rounds) == n_rounds and not any(" loss " in line for line in rounds)
    assert all(f"merge {rule}" in line for line in rounds)


def test_sixteen_shards_with_the_default_rule_end_to_end(spark, tmp_path: Path) -> None:
    """16 shards on a LocalCluster of 2: the tree reduces sparse deltas; float16 moves fewer bytes."""
    cfg = base_config()
    cfg.train.epochs, cfg.train.rounds_per_epoch = 2, 1
    corpus = prepared_corpus(cfg, [gensim_data("lee_background.cor")], tmp_path / "corpus", shards=16)
    reports = {}
    for dtype in ("float32", "float16"):
        cfg.train.corpus, cfg.train.output, cfg.train.delta_dtype = str(corpus), str(tmp_path / dtype), dtype
        api.train(cfg)
        reports[dtype] = json.loads((tmp_path / dtype / "train_report.json").read_text())
    report = reports["float32"]
    assert report["merge"] == DEFAULT_RULE and report["shards"] == 16 and report["rule"]["exchange"] == "deltas"
    assert [len(r["shard_seconds"]) for r in report["round_log"]] == [16, 16]
    assert report["lr_scale"] == 4.0  # adasum's default: log2 of the shard count
    # The second epoch sees the same text again: the loss falls.
    assert report["round_log"][1]["loss"] < report["round_log"][0]["loss"]
    assert all(r["bytes_moved"] > 0 for d in reports.values() for r in d["round_log"])
    # Dask's transfer counters depend on where the scheduler ran the tree's nodes: the payload is compared.
    payload = [sum(r["rule"]["update_bytes"] for r in reports[d]["round_log"]) for d in ("float32", "float16")]
    assert 0 < payload[1] < 0.6 * payload[0]
    assert all(r["merge_seconds"] >= 0 for r in report["round_log"])
    assert (tmp_path / "float32" / "train_report.png").stat().st_size > 10_000


def test_a_delta_rule_run_is_the_same_whichever_worker_trains_each_shard(spark, tmp_path: Path) -> None:
    """Shards borrow a worker's few gensim models round by round; each round reseeds the model it borrowed,
    so one worker training all four shards gives the vectors two workers give, bit for bit."""
    from gensim.models import KeyedVectors

    cfg = base_config()
    cfg.train.epochs, cfg.train.rounds_per_epoch, cfg.train.compute_loss = 1, 2, False
    corpus = prepared_corpus(cfg, [gensim_data("lee_background.cor")], tmp_path / "corpus", shards=4)
    vectors = []
    for workers, threads in ((1, 1), (2, 1), (1, 2)):  # one model; one per worker; two on one worker
        out = tmp_path / f"w{workers}t{threads}"
        cfg.dask.n_workers, cfg.dask.threads_per_worker = workers, threads
        cfg.train.corpus, cfg.train.output = str(corpus), str(out)
        api.train(cfg)
        vectors.append(KeyedVectors.load_word2vec_format(str(out / "vectors.bin"), binary=True))
    assert all(v.index_to_key == vectors[0].index_to_key for v in vectors)
    assert all(np.array_equal(v.vectors, vectors[0].vectors) for v in vectors[1:])

"""Sharded training on Dask: one trainer task per shard per round, combined on the workers.

Data flow of a round: trainer tasks (pinned to a worker each, allowed
elsewhere if it dies) take the last round's shard results worker-to-worker
and train on their own shard, read once from storage into local files. With
at most REDUCE_FANIN shards each trainer averages those results straight into
its model; with more, a tree of reduce tasks (fan-in 2, each placed where its
inputs are) sums them first and every trainer takes the root's combined
weights. No worker receives every shard's weights. The client only sends
small task descriptions, one round ahead, and receives per-round statistics;
corpus data and weights never pass through it until the final model is
written. The first round starts from gensim's seeded initialisation, which
every trainer builds for itself.

Each round's combined weights are checkpointed by shard 0's trainer of the
next round, in a thread beside its training, so the write is off the
critical path. If a round fails (a worker lost with data no other worker
holds), the run waits for the trainers in flight to settle and reruns from
the newest checkpoint that was committed.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from dask.sizeof import sizeof
from distributed import wait

from shardvec.corpus import Corpus, Vocab
from shardvec.errors import ConfigError
from shardvec.storage import Store
from shardvec.train import merge
from shardvec.train.buffers import ArrayPool
from shardvec.train.merge import ModelWeights, WeightedSum
from shardvec.train.model_io import checkpoint_dir, last_committed_round, load_model, save_checkpoint
from shardvec.train.params import Word2VecParams
from shardvec.train.schedule import Round
from shardvec.train.trainer import (RoundResult, build_shard_model, load_start, materialise_shard, pooled_mean,
                                    train_round)

@sizeof.register(ModelWeights)
def _sizeof_weights(weights: ModelWeights) -> int:
    """Tell Dask the real size of weights, so its memory accounting and transfer counts are true."""
    return weights.nbytes


@sizeof.register(WeightedSum)
def _sizeof_sum(total: WeightedSum) -> int:
    return total.nbytes


@sizeof.register(RoundResult)
def _sizeof_result(result: RoundResult) -> int:
    return result.weights.nbytes + int(result.word_counts.nbytes)


# Per worker process: (run id, shard) -> (gensim model, materialised chunks), reused across rounds.
_TRAINERS: dict[tuple[str, int], tuple[Any, Any]] = {}
_VOCABS: dict[str, Vocab] = {}
# Per worker process: weight-sized arrays reused by its trainers' rounds once nothing holds them.
_POOL = ArrayPool()
# A round that fails (a worker lost with data no other worker holds) is rerun from the last checkpoint.
ROUND_ATTEMPTS = 3
PROCRUSTES_ANCHORS = 5000
REDUCE_FANIN = 2


@dataclass(frozen=True)
class RunSpec:
    """What every task of one run needs to know; small enough to ship with each task."""

    run_id: str
    output: Store
    vocab: Store
    shards: tuple[Store, ...]
    params: Word2VecParams
    n_chunks: int
    merge: str
    meta: dict[str, Any]
    compute_loss: bool = True


def _trainer(spec: RunSpec, shard: int, seeded: bool):
    """This worker's model and chunks of ``shard``; ``seeded`` asks for a model in its seeded initial state."""
    key = (spec.run_id, shard)
    if key not in _TRAINERS:
        from distributed import get_worker

        vocab = _vocab(spec)
        workdir = Path(get_worker().local_directory) / "shardvec" / spec.run_id / f"shard-{shard:05d}"
        chunks = materialise_shard(spec.shards[shard], vocab, spec.n_chunks, workdir)
        _TRAINERS[key] = (build_shard_model(spec.params, vocab), chunks)
    elif seeded:  # a rerun of the first round: this model has trained since it was built
        _TRAINERS[key] = (build_shard_model(spec.params, _vocab(spec)), _TRAINERS[key][1])
    return _TRAINERS[key]


def train_task(spec: RunSpec, shard: int, start: ModelWeights | list[RoundResult] | None, rnd: Round,
               checkpoint: int | None = None) -> RoundResult:
    """Train one round of one shard.

    ``start`` is the weights to begin from; None for gensim's seeded
    initialisation, which every trainer builds for itself (the same weights
    everywhere, so none are shipped); or every shard's result of the
    previous round, whose mean is then written straight into the arrays the
    model trains next (no combine task, no combined copy). Those arrays come
    from the worker's pool, reused once nothing holds them, and the result
    is them, not a copy. With ``checkpoint``, those start weights
    are that round's combined model and are written to storage by a thread
    while this round trains (gensim's training loop releases the GIL), so the
    write overlaps the training instead of delaying the next round; it is
    committed before the task returns.
    """
    model, chunks = _trainer(spec, shard, seeded=start is None)
    writer = None
    if start is not None:
        loaded = load_start(model, [r.weights for r in start] if isinstance(start, list) else [start], _POOL)
        if checkpoint is not None:
            snapshot = start if isinstance(start, ModelWeights) else pooled_mean(_POOL, [loaded])
            writer = _Writer(lambda: save_checkpoint(spec.output, checkpoint, snapshot, _vocab(spec), spec.meta))
    result = train_round(model, chunks, rnd, shard, spec.compute_loss)
    if writer is not None:
        writer.join()
    return result


class _Writer(threading.Thread):
    """Runs a write beside the training and hands its exception, if any, to whoever joins it."""

    def __init__(self, write) -> None:
        super().__init__(daemon=True)
        self._write, self._error = write, None
        self.start()

    def run(self) -> None:
        try:
            self._write()
        except BaseException as exc:  # noqa: BLE001 - re-raised in join()
            self._error = exc

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self._error is not None:
            raise self._error


def anchors_task(result: RoundResult) -> np.ndarray:
    """The reference rows Procrustes rotates every shard model onto (small: anchors x d)."""
    return result.weights.vectors[:PROCRUSTES_ANCHORS].copy()


def reduce_task(spec: RunSpec, parts: list, anchors: np.ndarray | None) -> WeightedSum:
    """One node of the reduction tree: shard results or partial sums in, one partial sum out."""
    total: WeightedSum | None = None
    for part in parts:
        if isinstance(part, RoundResult):
            model = part.weights if anchors is None else merge.rotate_onto(part.weights, anchors)
            part = merge.weighted(model, None if spec.merge == "periodic" else part.word_counts)
        total = part if total is None else total + part
    assert total is not None
    return total


def combine_task(spec: RunSpec, parts: list, anchors: np.ndarray | None) -> ModelWeights:
    """The root of the reduction: combined weights from shard results or partial sums.

    With two or more parts the sum is a new array owned here, so it is
    finished in place: one pass over the weights fewer.
    """
    return merge.finish(reduce_task(spec, parts, anchors), in_place=len(parts) > 1)


def checkpoint_task(spec: RunSpec, round_index: int, weights: ModelWeights) -> str:
    """Commit the last round's weights to storage (earlier rounds are written by the next round's trainer)."""
    return save_checkpoint(spec.output, round_index, weights, _vocab(spec), spec.meta).name


def _vocab(spec: RunSpec) -> Vocab:
    """The run's vocabulary, read once per worker process."""
    if spec.run_id not in _VOCABS:
        _VOCABS[spec.run_id] = Vocab.load(spec.vocab)
    return _VOCABS[spec.run_id]


def load_task(checkpoint: Store) -> ModelWeights:
    return load_model(checkpoint).weights


def stats_task(result: RoundResult) -> dict[str, Any]:
    """The few numbers the client wants from a shard result, computed where the result lives."""
    return {"words": result.raw_words, "seconds": round(result.seconds, 3), "loss": result.loss}


def combine(client, spec: RunSpec, results: list, tag: str):
    """One future of the combined weights, reduced on the workers in a tree of fan-in REDUCE_FANIN.

    No worker receives every shard's weights; procrustes first rotates each
    result onto shard 0's frequent words.
    """
    anchors = client.submit(anchors_task, results[0], key=f"anchors-{tag}") if spec.merge == "procrustes" else None
    level, depth = results, 0
    while len(level) > REDUCE_FANIN:
        level = [client.submit(reduce_task, spec, level[i:i + REDUCE_FANIN], anchors,
                               key=f"reduce-{tag}-d{depth}-{i}") for i in range(0, len(level), REDUCE_FANIN)]
        depth += 1
    return client.submit(combine_task, spec, level, anchors, key=f"combine-{tag}")


def next_start(client, spec: RunSpec, results: list, tag: str) -> list:
    """What each shard's next periodic round starts from: a future, or the list of every shard's result.

    When one trainer can take every shard's result (shards <= fan-in), each
    trainer averages them into its own model: the results cross once, in
    parallel, and no combine task or combined copy sits between two rounds.
    """
    if len(results) <= REDUCE_FANIN:
        return [results] * len(results)
    return [combine(client, spec, results, tag)] * len(results)


def forget_run(run_id: str) -> int:
    """Drop this run's cached trainers from a worker (run with client.run)."""
    keys = [k for k in _TRAINERS if k[0] == run_id]
    for k in keys:
        del _TRAINERS[k]
    _VOCABS.pop(run_id, None)
    _POOL.clear()
    return len(keys)


def _bytes_sent(client) -> int:
    """Bytes all live workers have sent to each other so far (a lost worker's are not counted)."""
    sent = client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total, on_error="ignore")
    return sum(v for v in sent.values() if isinstance(v, int))


def check_memory(client, vocab_size: int, vector_size: int, n_shards: int) -> dict[str, Any]:
    """Refuse a run whose weights cannot fit the workers' memory limits."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    state = 2 * vocab_size * vector_size * 4
    per_worker = -(-n_shards // max(len(workers), 1))
    # Each trainer holds its gensim model (also its latest result), the previous result and the next start.
    need = 3 * state * per_worker + 2 * state
    limits = [w.get("memory_limit") or 0 for w in workers.values()]
    limit = min(limits) if limits and all(limits) else 0
    if limit and need > limit:
        raise ConfigError(
            f"training needs about {need / 2**30:.1f} GiB per worker ({vocab_size} words x {vector_size} dims, "
            f"{per_worker} shard(s) per worker) but workers have {limit / 2**30:.1f} GiB; raise vocab.min_count "
            "or set vocab.max_vocab_size (at prepare time), lower train.vector_size, or add workers")
    return {"state_bytes": state, "estimated_per_worker_bytes": need, "worker_memory_limit": limit}


def run_rounds(client, spec: RunSpec, rounds: list[Round], start: int, corpus: Corpus) -> tuple[ModelWeights, list]:
    """Run ``rounds[start:]``; return the final combined weights and per-round records.

    Round ``r + 1`` is submitted before round ``r`` is waited for: its tasks
    depend on round ``r``'s results, so the workers go from one round to the
    next without a trip through the client. Round ``r``'s combined weights
    are checkpointed by shard 0's trainer of round ``r + 1``, beside its
    training. A failed round is retried from the newest committed
    checkpoint, at most ROUND_ATTEMPTS times per round.
    """
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    n_shards = len(spec.shards)
    if len(workers) > n_shards:
        print(f"[train] warning: {len(workers)} workers but only {n_shards} shard(s); "
              f"{len(workers) - n_shards} worker(s) will idle. Prepare more shards (prepare.shards).",
              file=sys.stderr)
    pinned = [workers[i % len(workers)] for i in range(n_shards)]
    records: dict[int, dict[str, Any]] = {}
    failures: dict[int, int] = {}
    began, sent = time.perf_counter(), _bytes_sent(client)
    words_total = sum(corpus.shard_tokens) * spec.params.epochs * (len(rounds) - start) // len(rounds)
    flight = _Flight(client, spec, rounds, pinned, start, _restart_state(client, spec, start))
    if start == len(rounds):  # resumed after the last round: its checkpoint is the result
        return flight.starts[0].result(), []
    index, last = start, time.perf_counter()
    while index < len(rounds):
        flight.submit_through(min(index + 1, len(rounds) - 1))
        try:
            stats = client.gather(flight.stats[index])
        except Exception as exc:  # noqa: BLE001 - any distributed failure: retry from the checkpoint
            failed = index
            failures[failed] = failures.get(failed, 0) + 1
            if failures[failed] >= ROUND_ATTEMPTS:
                raise
            flight.settle()
            index = max(last_committed_round(spec.output), start - 1) + 1
            print(f"[train] round {rounds[failed].index + 1} failed ({type(exc).__name__}: {exc}); "
                  f"rerunning from round {index + 1}, after the last checkpoint", file=sys.stderr, flush=True)
            flight = _Flight(client, spec, rounds, pinned, index,
                             _restart_state(client, spec, index, sum(failures.values())))
            last = time.perf_counter()
            continue
        now, seconds = _bytes_sent(client), time.perf_counter() - last
        record = records[index] = _record(rounds[index], stats, seconds, now - sent, spec)
        sent, last = now, time.perf_counter()
        done = sum(r["words"] for r in records.values())
        eta = (last - began) / done * max(words_total - done, 0)
        rnd = rounds[index]
        loss = "" if record["loss"] is None else f"loss {record['loss']:.4g} "
        print(f"[train] round {rnd.index + 1}/{len(rounds)} epoch {rnd.epoch + 1} "
              f"alpha {rnd.start_alpha:.4f}->{rnd.end_alpha:.4f} words/s {record['words_per_s']:,} {loss}"
              f"moved {record['bytes_moved'] / 2**20:.1f} MiB ETA {eta:.0f}s",
              file=sys.stderr, flush=True)
        flight.forget_before(index)
        index += 1
    final = combine(client, spec, flight.results[len(rounds) - 1], f"{spec.run_id}-final")
    client.submit(checkpoint_task, spec, len(rounds) - 1, final, key=f"checkpoint-{spec.run_id}-final").result()
    weights = final.result()
    records[len(rounds) - 1]["bytes_moved"] += _bytes_sent(client) - sent  # the final combination's
    client.run(forget_run, spec.run_id)
    return weights, [records[i] for i in sorted(records)]


class _Flight:
    """The rounds submitted since the last (re)start: their shard results and statistics futures."""

    def __init__(self, client, spec: RunSpec, rounds: list[Round], pinned: list[str], first: int,
                 starts: list) -> None:
        self.client, self.spec, self.rounds, self.pinned = client, spec, rounds, pinned
        self.first, self.next, self.starts = first, first, starts
        self.results: dict[int, list] = {}
        self.stats: dict[int, list] = {}

    def submit_through(self, index: int) -> None:
        """Submit every round up to ``index`` not submitted yet."""
        while self.next <= index:
            self._submit(self.next)
            self.next += 1

    def _submit(self, index: int) -> None:
        spec, rnd = self.spec, self.rounds[index]
        tag = f"{spec.run_id}-r{rnd.index}-{uuid.uuid4().hex[:6]}"
        if index == self.first:
            starts, checkpoint = self.starts, None
        else:
            starts, checkpoint = next_start(self.client, spec, self.results[index - 1], tag), index - 1
        results = [self.client.submit(train_task, spec, i, starts[i], rnd, checkpoint if i == 0 else None,
                                      workers=[worker], allow_other_workers=True, pure=False,
                                      key=f"train-{tag}-s{i}")
                   for i, worker in enumerate(self.pinned)]
        self.results[index] = results
        self.stats[index] = [self.client.submit(stats_task, r, key=f"stats-{tag}-s{i}") for i, r in enumerate(results)]

    def forget_before(self, index: int) -> None:
        """Drop the futures of rounds before ``index`` (their dependents keep what they still need)."""
        for old in [k for k in self.results if k < index]:
            del self.results[old], self.stats[old]

    def settle(self) -> None:
        """After a failure: let every submitted trainer finish or fail, so no checkpoint is still being written."""
        pending = [f for results in self.results.values() for f in results]
        wait(pending)
        self.client.cancel(pending)


def _total_loss(stats: list[dict[str, Any]]) -> float | None:
    """The round's training loss summed over shards; None when gensim was not asked to compute it."""
    losses = [x["loss"] for x in stats]
    return None if None in losses else sum(losses)


def _record(rnd: Round, stats: list[dict[str, Any]], seconds: float, moved: int, spec: RunSpec) -> dict[str, Any]:
    words = sum(x["words"] for x in stats)
    return {"round": rnd.index, "epoch": rnd.epoch, "start_alpha": rnd.start_alpha, "end_alpha": rnd.end_alpha,
            "words": words, "shard_seconds": [x["seconds"] for x in stats], "loss": _total_loss(stats),
            "checkpoint": checkpoint_dir(spec.output, rnd.index).name, "seconds": round(seconds, 3),
            "words_per_s": round(words / max(seconds, 1e-9)), "bytes_moved": moved}


def _restart_state(client, spec: RunSpec, start: int, attempt: int = 0) -> list:
    """The weights round ``start`` begins from, for every shard: the previous checkpoint, or None (seeded)."""
    if start == 0:
        return [None] * len(spec.shards)
    weights = client.submit(load_task, checkpoint_dir(spec.output, start - 1),
                            key=f"load-{spec.run_id}-{start - 1}-{attempt}")
    return [weights] * len(spec.shards)


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]

"""Sharded training on Dask: one trainer task per shard per round, reduced on the workers.

Data flow of a round: trainer tasks (pinned to a worker each, allowed
elsewhere if it dies) take the last round's combined weights worker-to-worker,
train on their own shard read straight from storage, and a tree of reduce
tasks (fan-in 2, each placed where its inputs are) sums their weighted
results into the next combined weights. No worker receives every shard's
weights. The client only sends small task descriptions and receives
per-round statistics; corpus data and weights never pass through it until
the final model is written.

Each round's combined weights are checkpointed by a task of their own that
runs while the next round trains, so the write is off the critical path.
The client waits for checkpoint ``r`` before it submits round ``r + 2``:
at most one checkpoint is ever outstanding. If a round fails (a worker lost
with data no other worker holds), the run goes back to the newest checkpoint
that was committed and reruns from there; its weights are the same ones.
"""

from __future__ import annotations

import sys
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
from shardvec.train import merge
from shardvec.train.merge import ModelWeights, WeightedSum
from shardvec.storage import Store
from shardvec.train.model_io import checkpoint_dir, load_model, save_checkpoint
from shardvec.train.params import Word2VecParams
from shardvec.train.schedule import Round
from shardvec.train.trainer import RoundResult, build_model, initial_weights, materialise_shard, train_round

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


def _trainer(spec: RunSpec, shard: int):
    key = (spec.run_id, shard)
    if key not in _TRAINERS:
        from distributed import get_worker

        vocab = _vocab(spec)
        workdir = Path(get_worker().local_directory) / "shardvec" / spec.run_id / f"shard-{shard:05d}"
        chunks = materialise_shard(spec.shards[shard], vocab, spec.n_chunks, workdir)
        _TRAINERS[key] = (build_model(spec.params, vocab), chunks)
    return _TRAINERS[key]


def train_task(spec: RunSpec, shard: int, weights: ModelWeights, rnd: Round) -> RoundResult:
    model, chunks = _trainer(spec, shard)
    return train_round(model, chunks, weights, rnd, shard)


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
    """The root of the reduction: the round's combined weights, handed to the next round in memory.

    With two or more parts the sum is a new array owned here, so it is
    finished in place: one pass over the weights fewer on the critical path.
    """
    return merge.finish(reduce_task(spec, parts, anchors), in_place=len(parts) > 1)


def checkpoint_task(spec: RunSpec, round_index: int, weights: ModelWeights, previous: str | None) -> str:
    """Commit the round's weights to storage; taking the ``previous`` checkpoint's name orders the writes."""
    return save_checkpoint(spec.output, round_index, weights, _vocab(spec), spec.meta).name


def _vocab(spec: RunSpec) -> Vocab:
    """The run's vocabulary, read once per worker process."""
    if spec.run_id not in _VOCABS:
        _VOCABS[spec.run_id] = Vocab.load(spec.vocab)
    return _VOCABS[spec.run_id]


def load_task(checkpoint: Store) -> ModelWeights:
    return load_model(checkpoint).weights


def init_task(spec: RunSpec) -> ModelWeights:
    return initial_weights(spec.params, _vocab(spec))


def stats_task(result: RoundResult) -> dict[str, Any]:
    """The few numbers the client wants from a shard result, computed where the result lives."""
    return {"words": result.raw_words, "seconds": round(result.seconds, 3), "loss": result.loss}


def reduce_tree(client, spec: RunSpec, results: list, anchors, tag: str, pinned: list[str]) -> list:
    """The combined weights each shard's next round starts from, one future per shard.

    Partial sums form a tree of fan-in REDUCE_FANIN, so no worker receives
    every shard's weights. When one node can take every shard's result
    (shards <= fan-in) each trainer's worker combines them itself: the
    results cross once, in parallel, and no combined copy has to follow.
    Otherwise one root combines the top partial sums and every trainer
    fetches its result.
    """
    level, depth = results, 0
    while len(level) > REDUCE_FANIN:
        level = [client.submit(reduce_task, spec, level[i:i + REDUCE_FANIN], anchors,
                               key=f"reduce-{tag}-d{depth}-{i}") for i in range(0, len(level), REDUCE_FANIN)]
        depth += 1
    if depth == 0:
        return [client.submit(combine_task, spec, level, anchors, workers=[worker], allow_other_workers=True,
                              key=f"combine-{tag}-s{i}") for i, worker in enumerate(pinned)]
    return [client.submit(combine_task, spec, level, anchors, key=f"combine-{tag}")] * len(pinned)


def forget_run(run_id: str) -> int:
    """Drop this run's cached trainers from a worker (run with client.run)."""
    keys = [k for k in _TRAINERS if k[0] == run_id]
    for k in keys:
        del _TRAINERS[k]
    _VOCABS.pop(run_id, None)
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
    # Each trainer holds its gensim model, the round's input and its result.
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

    The combined weights stay on the workers from one round to the next, and
    every round's are checkpointed while the next one trains. A failed round
    is retried from the newest committed checkpoint, at most ROUND_ATTEMPTS
    times per round.
    """
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    n_shards = len(spec.shards)
    if len(workers) > n_shards:
        print(f"[train] warning: {len(workers)} workers but only {n_shards} shard(s); "
              f"{len(workers) - n_shards} worker(s) will idle. Prepare more shards (prepare.shards).",
              file=sys.stderr)
    pinned = [workers[i % len(workers)] for i in range(n_shards)]
    state, pending = _restart_state(client, spec, start), None
    records: dict[int, dict[str, Any]] = {}
    failures: dict[int, int] = {}
    began, sent = time.perf_counter(), _bytes_sent(client)
    words_total = sum(corpus.shard_tokens) * spec.params.epochs * (len(rounds) - start) // len(rounds)
    index = start
    while index < len(rounds):
        rnd = rounds[index]
        try:
            state, pending, record = _run_round(client, spec, rnd, state, pinned, pending)
        except Exception as exc:  # noqa: BLE001 - any distributed failure: retry from the checkpoint
            failures[index] = failures.get(index, 0) + 1
            if failures[index] >= ROUND_ATTEMPTS:
                raise
            index = _committed_round(pending, index) + 1
            print(f"[train] round {rnd.index + 1} failed ({type(exc).__name__}: {exc}); "
                  f"rerunning from round {index + 1}, after the last checkpoint", file=sys.stderr, flush=True)
            state, pending = _restart_state(client, spec, index, sum(failures.values())), None
            continue
        now = _bytes_sent(client)
        record["bytes_moved"], sent = now - sent, now
        records[index] = record
        index += 1
        done = sum(r["words"] for r in records.values())
        eta = (time.perf_counter() - began) / done * max(words_total - done, 0)
        print(f"[train] round {rnd.index + 1}/{len(rounds)} epoch {rnd.epoch + 1} "
              f"alpha {rnd.start_alpha:.4f}->{rnd.end_alpha:.4f} words/s {record['words_per_s']:,} "
              f"loss {record['loss']:.4g} moved {record['bytes_moved'] / 2**20:.1f} MiB ETA {eta:.0f}s",
              file=sys.stderr, flush=True)
    if pending is not None:
        pending.result()  # the last checkpoint is committed before the run counts as done
    final = state[0].result()
    client.run(forget_run, spec.run_id)
    return final, [records[i] for i in sorted(records)]


def _committed_round(pending, failed: int) -> int:
    """The newest round whose checkpoint is committed, once the outstanding write has settled."""
    if pending is None:
        return failed - 1
    wait(pending)
    return failed - 1 if pending.status == "finished" else failed - 2


def _restart_state(client, spec: RunSpec, start: int, attempt: int = 0) -> list:
    """The weights round ``start`` begins from, for every shard: the previous checkpoint, or the seeded start."""
    if start == 0:
        weights = client.submit(init_task, spec, key=f"init-{spec.run_id}-{attempt}")
    else:
        weights = client.submit(load_task, checkpoint_dir(spec.output, start - 1),
                                key=f"load-{spec.run_id}-{start - 1}-{attempt}")
    return [weights] * len(spec.shards)


def _run_round(client, spec: RunSpec, rnd: Round, state: list, pinned: list[str],
               previous) -> tuple[list, Any, dict]:
    """Submit one round and wait for its combined weights (not for its checkpoint).

    ``state`` holds each shard's starting weights. Returns the combined
    weights (a future per shard), the checkpoint's future and the round's
    record. ``previous`` is the last round's checkpoint, which must be
    committed before this round counts as done.
    """
    t0 = time.perf_counter()
    tag = f"{spec.run_id}-r{rnd.index}-{uuid.uuid4().hex[:6]}"
    results = [client.submit(train_task, spec, i, state[i], rnd, workers=[pinned[i]], allow_other_workers=True,
                             pure=False, key=f"train-{tag}-s{i}")
               for i in range(len(pinned))]
    anchors = client.submit(anchors_task, results[0], key=f"anchors-{tag}") if spec.merge == "procrustes" else None
    combined = reduce_tree(client, spec, results, anchors, tag, pinned)
    checkpoint = client.submit(checkpoint_task, spec, rnd.index, combined[0], previous, key=f"checkpoint-{tag}")
    stats = client.gather([client.submit(stats_task, r, key=f"stats-{tag}-s{i}") for i, r in enumerate(results)])
    awaited = list(dict.fromkeys(combined)) + ([previous] if previous is not None else [])
    wait(awaited)
    for future in awaited:
        if future.status != "finished":
            future.result()  # raises the round's failure
    seconds = time.perf_counter() - t0
    words = sum(x["words"] for x in stats)
    record = {"round": rnd.index, "epoch": rnd.epoch, "start_alpha": rnd.start_alpha, "end_alpha": rnd.end_alpha,
              "words": words, "shard_seconds": [x["seconds"] for x in stats], "loss": sum(x["loss"] for x in stats),
              "checkpoint": checkpoint_dir(spec.output, rnd.index).name, "seconds": round(seconds, 3),
              "words_per_s": round(words / max(seconds, 1e-9))}
    return combined, checkpoint, record


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]

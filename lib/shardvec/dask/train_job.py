"""Sharded training on Dask: one trainer task per shard per round, combined on the workers.

The merge rule (``shardvec.train.rules``) decides what crosses: weight rules
send whole shard models, as described below; delta rules send only the rows
each shard changed, every worker keeps one copy of the combined model
(``_Replica``) and adds each round's update to it, and the same tree order
combines the deltas.

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
every trainer (delta rules: every worker) builds for itself.

Each round's combined weights are checkpointed by shard 0's trainer of the
next round, in a thread beside its training, so the write is off the
critical path. If a round fails (a worker lost with data no other worker
holds), the run waits for the trainers in flight to settle and reruns from
the newest checkpoint that was committed.
"""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from dask.sizeof import sizeof
from distributed import wait

from shardvec.corpus import Corpus, Vocab
from shardvec.errors import ConfigError
from shardvec.logs import stage_logger
from shardvec.storage import Store
from shardvec.train import merge
from shardvec.train.buffers import ArrayPool
from shardvec.train.deltas import Delta, add_into, delta_between
from shardvec.train.materialise import ShardChunks, materialise_shard
from shardvec.train.merge import WeightedSum
from shardvec.train.model_io import SavedModel, checkpoint_dir, last_committed_round, load_model, save_checkpoint
from shardvec.train.params import Word2VecParams
from shardvec.train.rules import REDUCE_FANIN, DeltaRule, MergeRule, WeightRule, reduce_tree
from shardvec.train.schedule import Round
from shardvec.train.trainer import (RoundResult, build_model, build_shard_model, get_weights, load_start, pooled_mean,
                                    reseed, set_weights, train_round)
from shardvec.train.weights import ModelWeights

log = stage_logger(__name__, "train")


@sizeof.register(ModelWeights)
def _sizeof_weights(weights: ModelWeights) -> int:
    """Tell Dask the real size of weights, so its memory accounting and transfer counts are true."""
    return weights.nbytes


@sizeof.register(WeightedSum)
def _sizeof_sum(total: WeightedSum) -> int:
    return total.nbytes


@sizeof.register(Delta)
def _sizeof_delta(delta: Delta) -> int:
    return delta.nbytes


@sizeof.register(RoundResult)
def _sizeof_result(result: RoundResult) -> int:
    return result.weights.nbytes + int(result.word_counts.nbytes)


# A round that fails (a worker lost with data no other worker holds) is rerun from the last checkpoint.
ROUND_ATTEMPTS = 3
PROCRUSTES_ANCHORS = 5000


@dataclass(frozen=True)
class RunSpec:
    """What every task of one run needs to know; small enough to ship with each task."""

    run_id: str
    output: Store
    vocab: Store
    shards: tuple[Store, ...]
    params: Word2VecParams
    n_chunks: int
    rule: MergeRule
    meta: dict[str, Any]
    compute_loss: bool = True
    delta_dtype: str = "float32"  # how delta rules send rows: float32, or float16 for half the bytes


class _Replica:
    """This worker's copy of the run's combined model as it stood at the start of round ``version``.

    Delta rules send only what changed; every worker keeps one copy of the
    combined model, shared by the shard trainers it runs, and adds each
    round's update to it. Trainers copy it into their model before a round
    and diff against it after. ``flight`` names the attempt that built it: a
    round rerun after a failure starts a new flight, and a copy left by the
    failed one is never mistaken for a current one.
    """

    def __init__(self) -> None:
        self.flight = ""
        self.version = -1
        self.weights: ModelWeights | None = None
        self.lock = threading.Lock()


class _WorkerState:
    """What one worker process keeps between the tasks of a run, so no round rebuilds or rereads it.

    Per run: each shard's materialised chunks (written on the shard's first
    round there), the vocabulary (read once), for weight rules each shard's
    gensim model (its arrays are the shard's result, read by other tasks
    after the round), for delta rules a few models that any shard's round
    borrows (a round starts by copying the combined model in, so a model
    carries nothing of its shard between rounds: as many as rounds ran at
    once here, not one per shard) and the worker's copy of the combined model.
    Across runs: the pool of weight-sized arrays its trainers' rounds reuse
    once nothing holds them. :func:`forget_run` drops a finished run's part.
    """

    def __init__(self) -> None:
        self.chunks: dict[tuple[str, int], ShardChunks] = {}  # (run id, shard) -> its chunk files
        self.models: dict[tuple[str, int], Any] = {}  # weight rules: (run id, shard) -> its model
        self.spare_models: dict[str, list[Any]] = {}  # delta rules: run id -> models no round holds now
        self.vocabs: dict[str, Vocab] = {}
        self.replicas: dict[str, _Replica] = {}
        self.pool = ArrayPool()
        self.lock = threading.Lock()

    def vocab(self, spec: RunSpec) -> Vocab:
        """The run's vocabulary, read once per worker process."""
        if spec.run_id not in self.vocabs:
            self.vocabs[spec.run_id] = Vocab.load(spec.vocab)
        return self.vocabs[spec.run_id]

    def shard_chunks(self, spec: RunSpec, shard: int) -> ShardChunks:
        """``shard``'s chunk files on this worker, read from storage on its first round here."""
        key = (spec.run_id, shard)
        if key not in self.chunks:
            from distributed import get_worker

            workdir = Path(get_worker().local_directory) / "shardvec" / spec.run_id / f"shard-{shard:05d}"
            self.chunks[key] = materialise_shard(spec.shards[shard], self.vocab(spec), spec.n_chunks, workdir)
        return self.chunks[key]

    def trainer(self, spec: RunSpec, shard: int, seeded: bool) -> tuple[Any, ShardChunks]:
        """This worker's model and chunks of ``shard`` (weight rules); ``seeded`` asks for a model in its
        seeded initial state."""
        key = (spec.run_id, shard)
        chunks = self.shard_chunks(spec, shard)
        if key not in self.models or seeded:  # seeded again: a rerun of the first round, after it trained
            self.models[key] = build_shard_model(spec.params, self.vocab(spec))
        return self.models[key], chunks

    @contextmanager
    def borrowed_model(self, spec: RunSpec) -> Iterator[Any]:
        """A model of the run for one round of any shard (delta rules), given back when the round ends."""
        with self.lock:
            spare = self.spare_models.setdefault(spec.run_id, [])
            model = spare.pop() if spare else None
        if model is None:
            model = build_shard_model(spec.params, self.vocab(spec))
        try:
            yield model
        finally:
            with self.lock:
                self.spare_models.setdefault(spec.run_id, []).append(model)

    def replica(self, run_id: str) -> _Replica:
        """The run's copy of the combined model on this worker (delta rules), empty until a round builds it."""
        return self.replicas.setdefault(run_id, _Replica())

    def forget(self, run_id: str) -> int:
        """Drop the run's models, chunks, vocabulary and model copy, and empty the pool; the shards dropped."""
        keys = [key for key in self.chunks if key[0] == run_id]
        for key in keys:
            del self.chunks[key]
            self.models.pop(key, None)
        self.spare_models.pop(run_id, None)
        self.vocabs.pop(run_id, None)
        self.replicas.pop(run_id, None)
        self.pool.clear()
        return len(keys)


# This worker process's state: tasks run in worker processes, each of which imports this module once.
_WORKER = _WorkerState()


def train_task(spec: RunSpec, shard: int, start: ModelWeights | list[RoundResult] | None, round_: Round,
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
    model, chunks = _WORKER.trainer(spec, shard, seeded=start is None)
    writer = None
    if start is not None:
        loaded = load_start(model, [r.weights for r in start] if isinstance(start, list) else [start], _WORKER.pool)
        if checkpoint is not None:
            snapshot = start if isinstance(start, ModelWeights) else pooled_mean(_WORKER.pool, [loaded])
            writer = _Writer(lambda: save_checkpoint(spec.output, checkpoint, snapshot, _WORKER.vocab(spec), spec.meta))
    result = train_round(model, chunks, round_, shard, spec.compute_loss)
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


def _round_start(spec: RunSpec, index: int, start, flight: str) -> ModelWeights:
    """The combined weights round ``index`` of ``flight`` starts from, on this worker.

    ``start`` is None (a freshly seeded model's weights), the dense weights of a
    checkpoint (both only in a flight's first round), the update of round
    ``index - 1`` (a :class:`Delta`) to add to this worker's copy, or the
    previous round's shard results, combined here (no more shards than the
    fan-in, stateless rule: no root task between rounds). The copy is made
    once per worker and round, whichever of its trainers comes first.
    """
    replica = _WORKER.replica(spec.run_id)
    with replica.lock:
        current = replica.flight == flight and replica.weights is not None
        if current and replica.version == index:
            return replica.weights
        if start is None or isinstance(start, ModelWeights):
            if start is None:
                replica.weights = get_weights(build_model(spec.params, _WORKER.vocab(spec)))
            else:
                replica.weights = start.copy()
        elif current and replica.version == index - 1:
            update = start if isinstance(start, Delta) else _local_update(spec, start)
            add_into(replica.weights.vectors, update.vectors)
            add_into(replica.weights.output, update.output)
        else:
            raise RuntimeError(f"this worker holds no copy of the model before round {index} of this attempt; "
                               "the round reruns from the last checkpoint")
        replica.flight, replica.version = flight, index
        return replica.weights


def _local_update(spec: RunSpec, results: list[RoundResult]) -> Delta:
    rule = _delta_rule(spec)
    update = rule.step(rule.reduce([r.weights for r in results], spec.delta_dtype), len(spec.shards), None)[0]
    return update.encoded(spec.delta_dtype)  # as a root would send it


def _sends_deltas(spec: RunSpec) -> bool:
    """Whether the run's rule exchanges sparse deltas (else whole weights)."""
    return isinstance(spec.rule, DeltaRule)


def _delta_rule(spec: RunSpec) -> DeltaRule:
    assert isinstance(spec.rule, DeltaRule)
    return spec.rule


def delta_train_task(spec: RunSpec, shard: int, start, round_: Round, flight: str, checkpoint: int | None = None,
                     state: dict[str, np.ndarray] | None = None) -> RoundResult:
    """Train one round of one shard for a delta rule; the result's ``weights`` is the shard's sparse delta.

    With ``checkpoint``, the round's start (the combined model of the round
    before) and the rule's ``state`` are written beside the training, as in
    :func:`train_task`.
    """
    chunks = _WORKER.shard_chunks(spec, shard)
    base = _round_start(spec, round_.index, start, flight)
    writer = None
    if checkpoint is not None:
        writer = _Writer(lambda: save_checkpoint(spec.output, checkpoint, base, _WORKER.vocab(spec), spec.meta, state))
    with _WORKER.borrowed_model(spec) as model:
        set_weights(model, base)
        reseed(model, spec.params.seed, shard, round_.index)
        result = train_round(model, chunks, round_, shard, spec.compute_loss)
        delta = delta_between(result.weights, base, spec.delta_dtype)
    if writer is not None:
        writer.join()
    # Delta rules read no word counts: none are sent.
    return RoundResult(result.shard, delta, _NO_COUNTS, result.raw_words, result.seconds, result.loss)


_NO_COUNTS = np.zeros(0, np.int64)


@dataclass
class RoundUpdate:
    """The root of a delta rule's reduction: the update every worker adds, and the rule's state."""

    delta: Delta
    state: Any
    figures: dict[str, Any]


@sizeof.register(RoundUpdate)
def _sizeof_update(update: RoundUpdate) -> int:
    return update.delta.nbytes + sum(int(a.nbytes) for a in (update.state or {}).values())


def _deltas(parts: list) -> list[Delta]:
    return [p.weights if isinstance(p, RoundResult) else p for p in parts]


def delta_reduce_task(spec: RunSpec, parts: list) -> Delta:
    """One inner node of a delta rule's tree: two shard deltas or partial combinations in, one out."""
    return _delta_rule(spec).combine(_deltas(parts), spec.delta_dtype)


def delta_root_task(spec: RunSpec, parts: list, state, index: int, last: bool) -> RoundUpdate:
    """The root: round ``index``'s combined delta turned into the update, with the rule's new state.

    After the ``last`` round the update is the rule's ``finish``: the final
    model, not the start of a round that will not run.
    """
    rule = _delta_rule(spec)
    if rule.stateful and state is None and index > 0:
        raise RuntimeError(f"merge rule {rule.name} has no state from round {index}; rerunning from the checkpoint")
    total = rule.combine(_deltas(parts), spec.delta_dtype)
    if last:
        update, new_state = rule.finish(total, len(spec.shards), state), state
    else:
        update, new_state = rule.step(total, len(spec.shards), state)
    update = update.encoded(spec.delta_dtype)
    # update_bytes is the payload every worker receives: unlike bytes_moved (Dask's own transfer counters,
    # which depend on where the scheduler placed the tree's nodes) it does not vary from run to run.
    figures = {"update_rows": [len(update.vectors.index), len(update.output.index)],
               "update_bytes": update.nbytes, **rule.describe(new_state)}
    return RoundUpdate(update, new_state, figures)


def final_weights_task(spec: RunSpec, index: int, start, flight: str) -> ModelWeights:
    """The combined model after the last round (``index`` = number of rounds), from this worker's copy."""
    return _round_start(spec, index, start, flight).copy()


def anchors_task(result: RoundResult) -> np.ndarray:
    """The reference rows Procrustes rotates every shard model onto (small: anchors x d)."""
    return result.weights.vectors[:PROCRUSTES_ANCHORS].copy()


def reduce_task(spec: RunSpec, parts: list, anchors: np.ndarray | None) -> WeightedSum:
    """One node of the reduction tree: shard results or partial sums in, one partial sum out."""
    total: WeightedSum | None = None
    for part in parts:
        if isinstance(part, RoundResult):
            model = part.weights if anchors is None else merge.rotate_onto(part.weights, anchors)
            part = merge.weighted(model, part.word_counts if _weight_rule(spec).row_weighted else None)
        total = part if total is None else total + part
    assert total is not None
    return total


def _weight_rule(spec: RunSpec) -> WeightRule:
    assert isinstance(spec.rule, WeightRule)
    return spec.rule


def combine_task(spec: RunSpec, parts: list, anchors: np.ndarray | None) -> ModelWeights:
    """The root of the reduction: combined weights from shard results or partial sums.

    With two or more parts the sum is a new array owned here, so it is
    finished in place: one pass over the weights fewer.
    """
    return merge.finish(reduce_task(spec, parts, anchors), in_place=len(parts) > 1)


def checkpoint_task(spec: RunSpec, round_index: int, weights: ModelWeights, state=None) -> str:
    """Commit the last round's weights to storage (earlier rounds are written by the next round's trainer)."""
    return save_checkpoint(spec.output, round_index, weights, _WORKER.vocab(spec), spec.meta, state).name


def load_task(checkpoint: Store) -> SavedModel:
    return load_model(checkpoint)


def stats_task(result: RoundResult) -> dict[str, Any]:
    """The few numbers the client wants from a shard result, computed where the result lives."""
    return {"words": result.raw_words, "seconds": round(result.seconds, 3), "loss": result.loss}


def _tree(results: list, tag: str, submit: Callable[[list, str], Any]) -> list:
    """Futures of the tree's top level: ``submit(parts, key)`` per node, in the rules' tree order."""
    return reduce_tree(results, lambda group, level, i: submit(group, f"reduce-{tag}-d{level}-{i}"))


def combine(client, spec: RunSpec, results: list, tag: str):
    """One future of the combined weights, reduced on the workers in a tree of fan-in REDUCE_FANIN.

    No worker receives every shard's weights; procrustes first rotates each
    result onto shard 0's frequent words.
    """
    anchors = client.submit(anchors_task, results[0], key=f"anchors-{tag}") if _weight_rule(spec).rotates else None
    level = _tree(results, tag, lambda parts, key: client.submit(reduce_task, spec, parts, anchors, key=key))
    return client.submit(combine_task, spec, level, anchors, key=f"combine-{tag}")


def delta_root(client, spec: RunSpec, results: list, state, index: int, last: bool, home: str, tag: str):
    """One future of round ``index``'s :class:`RoundUpdate`, reduced on the workers in the rule's tree order.

    A stateful rule's root runs on ``home`` (shard 0's worker), where the
    state it keeps and the checkpoint that writes it already are.
    """
    level = _tree(results, tag, lambda parts, key: client.submit(delta_reduce_task, spec, parts, key=key))
    place = {"workers": [home], "allow_other_workers": True} if _delta_rule(spec).stateful else {}
    return client.submit(delta_root_task, spec, level, state, index, last, key=f"root-{tag}", **place)


def _fused(spec: RunSpec, n_results: int) -> bool:
    """Whether every trainer combines the previous round's results itself (no root task between rounds)."""
    return n_results <= REDUCE_FANIN and not spec.rule.stateful


def next_start(client, spec: RunSpec, results: list, tag: str) -> list:
    """What each shard's next periodic round of a weight rule starts from: a future, or every shard's result.

    When one trainer can take every shard's result (shards <= fan-in), each
    trainer averages them into its own model: the results cross once, in
    parallel, and no combine task or combined copy sits between two rounds.
    """
    if _fused(spec, len(results)):
        return [results] * len(results)
    return [combine(client, spec, results, tag)] * len(results)


def forget_run(run_id: str) -> int:
    """Drop this run's cached trainers from a worker (run with client.run)."""
    return _WORKER.forget(run_id)


def _worker_sent(dask_worker) -> tuple[str, int]:
    return dask_worker.id, dask_worker.transfer_outgoing_bytes_total


def _bytes_sent(client) -> dict[str, int]:
    """Bytes each live worker has sent to others so far, by worker id (a restarted worker has a new id)."""
    sent = client.run(_worker_sent, on_error="ignore")
    return dict(v for v in sent.values() if isinstance(v, tuple))


def bytes_moved(before: dict[str, int], now: dict[str, int]) -> int:
    """Bytes sent between two readings, each worker counted from its own baseline.

    A worker that was not there before (a new or restarted one) counts from
    zero; a lost worker's bytes since the last reading cannot be read and are
    not counted. A counter that went down (the same id restarted) counts from
    zero too, never negative.
    """
    total = 0
    for worker, sent in now.items():
        base = before.get(worker, 0)
        total += sent - base if sent >= base else sent
    return total


def check_memory(client, vocab_size: int, vector_size: int, n_shards: int, rule: MergeRule) -> dict[str, Any]:
    """Refuse a run whose weights cannot fit the workers' memory limits."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    state = 2 * vocab_size * vector_size * 4
    per_worker = -(-n_shards // max(len(workers), 1))
    if isinstance(rule, WeightRule):
        # Each trainer holds its gensim model (also its latest result), the previous result and the next start.
        need = 3 * state * per_worker + 2 * state
    else:
        # One gensim model per round running at once (a worker thread), each trainer's delta (at most the
        # model's size); the worker holds one copy of the combined model and up to two deltas being combined;
        # a stateful rule's root (block momentum) holds its dense state and the temporaries of its update.
        threads = max((w.get("nthreads") or 1 for w in workers.values()), default=1)
        need = state * (min(threads, per_worker) + per_worker) + 3 * state + (3 * state if rule.stateful else 0)
    limits = [w.get("memory_limit") or 0 for w in workers.values()]
    limit = min(limits) if limits and all(limits) else 0
    if limit and need > limit:
        raise ConfigError(
            f"training needs about {need / 2**30:.1f} GiB per worker ({vocab_size} words x {vector_size} dims, "
            f"{per_worker} shard(s) per worker) but workers have {limit / 2**30:.1f} GiB; raise vocab.min_count "
            "or set vocab.max_vocab_size (at prepare time), lower train.vector_size, or add workers")
    return {"state_bytes": state, "estimated_per_worker_bytes": need, "worker_memory_limit": limit}


def pin_shards(workers: list[str], n_shards: int) -> list[str]:
    """The worker each shard's trainer runs on: contiguous blocks of shards per worker.

    The reduction tree pairs shards (0, 1), (2, 3), ...: with neighbours on
    the same worker, every subtree inside a block is reduced where its
    inputs are, and only the few top levels cross between workers.
    """
    return [workers[i * len(workers) // n_shards] for i in range(n_shards)]


def run_rounds(client, spec: RunSpec, rounds: list[Round], start: int, corpus: Corpus) -> tuple[ModelWeights, list]:
    """Run ``rounds[start:]``; return the final combined weights and per-round records.

    Round ``r + 1`` is submitted before round ``r`` is waited for: its tasks
    depend on round ``r``'s results, so the workers go from one round to the
    next without a trip through the client. Round ``r``'s combined weights
    are checkpointed by shard 0's trainer of round ``r + 1``, beside its
    training. A failed round (or final combination) is retried from the
    newest committed checkpoint, on the workers alive then, at most
    ROUND_ATTEMPTS times per round.
    """
    workers = _live_workers(client)
    _warn_idle_workers(len(workers), len(spec.shards))
    round_log = _RoundLog(client, spec, rounds, len(workers), _words_to_train(corpus, spec, rounds, start))
    flight = _Flight.begin(client, spec, rounds, start)
    if start == len(rounds):  # resumed after the last round: its checkpoint is the result
        return flight.starts[0].result(), []
    round_log.flight_started()
    failures: dict[int, int] = {}
    index, final = start, None
    while index < len(rounds):
        try:
            stats, figures, final = flight.wait_for(index)
        except Exception as exc:  # noqa: BLE001 - any distributed failure: retry from the checkpoint
            failures[index] = failures.get(index, 0) + 1
            if failures[index] >= ROUND_ATTEMPTS:
                raise
            flight = _rerun_from_checkpoint(flight, index, start, exc, attempt=sum(failures.values()))
            index = flight.first
            round_log.flight_started()
            continue
        round_log.add(index, stats, figures)
        flight.forget_before(index)
        index += 1
    assert final is not None
    weights = final.result()  # after the last reading: the client's own fetch is not worker-to-worker traffic
    client.run(forget_run, spec.run_id)
    return weights, round_log.records()


def _live_workers(client) -> list[str]:
    return sorted(client.scheduler_info(n_workers=-1)["workers"])


def _warn_idle_workers(n_workers: int, n_shards: int) -> None:
    """One trainer runs per shard: workers beyond the shards' number have nothing to do."""
    if n_workers > n_shards:
        log.warning(f"warning: {n_workers} workers but only {n_shards} shard(s); "
                    f"{n_workers - n_shards} worker(s) will idle. Prepare more shards (prepare.shards).")


def _words_to_train(corpus: Corpus, spec: RunSpec, rounds: list[Round], start: int) -> int:
    """The raw words ``rounds[start:]`` train, over every shard and epoch."""
    return sum(corpus.shard_tokens) * spec.params.epochs * (len(rounds) - start) // len(rounds)


def _rerun_from_checkpoint(flight: _Flight, failed: int, start: int, exc: Exception, attempt: int) -> _Flight:
    """After round ``failed`` failed: a new flight from the round after the newest committed checkpoint.

    The old flight's trainers are let to finish or fail first, so no
    checkpoint is still being written when the newest one is looked for.
    """
    flight.settle()
    first = max(last_committed_round(flight.spec.output), start - 1) + 1
    log.warning(f"round {flight.rounds[failed].index + 1} failed ({type(exc).__name__}: {exc}); "
                f"rerunning from round {first + 1}, after the last checkpoint")
    return _Flight.begin(flight.client, flight.spec, flight.rounds, first, attempt)


class _RoundLog:
    """The run's ``round_log``: a record and a progress line per round, timed from its flight's start.

    A round's seconds run from the end of the round before, or from the start
    of its flight after a (re)start; bytes moved are read from the workers'
    own counters between two rounds. A rerun round's record replaces the
    failed attempt's.
    """

    def __init__(self, client, spec: RunSpec, rounds: list[Round], n_workers: int, words_total: int) -> None:
        self.client, self.spec, self.rounds, self.n_workers = client, spec, rounds, n_workers
        self.words_total = words_total
        self.began, self.sent = time.perf_counter(), _bytes_sent(client)
        self.last = self.began
        self._records: dict[int, dict[str, Any]] = {}

    def flight_started(self) -> None:
        self.last = time.perf_counter()

    def add(self, index: int, stats: list[dict[str, Any]], figures: dict[str, Any]) -> None:
        """Record round ``index`` from its shards' ``stats`` and the rule's ``figures``, and print its line."""
        now, seconds = _bytes_sent(self.client), time.perf_counter() - self.last
        record = self._records[index] = _record(self.rounds[index], stats, seconds, bytes_moved(self.sent, now),
                                                self.spec, figures, self.n_workers)
        self.sent, self.last = now, time.perf_counter()
        done = sum(r["words"] for r in self._records.values())
        eta = (self.last - self.began) / done * max(self.words_total - done, 0)
        _print_round(self.rounds[index], len(self.rounds), record, self.spec, eta)

    def records(self) -> list[dict[str, Any]]:
        return [self._records[i] for i in sorted(self._records)]


def _print_round(round_: Round, n_rounds: int, record: dict[str, Any], spec: RunSpec, eta: float) -> None:
    loss = "" if record["loss"] is None else f"loss {record['loss']:.4g} "
    state = "".join(f" {key} {value}" for key, value in record["rule"].items()
                    if key not in ("name", "update_rows", "update_bytes"))
    log.info(f"round {round_.index + 1}/{n_rounds} epoch {round_.epoch + 1} "
             f"alpha {round_.start_alpha:.4f}->{round_.end_alpha:.4f} words/s {record['words_per_s']:,} {loss}"
             f"merge {spec.rule.name}{state} moved {record['bytes_moved'] / 2**20:.1f} MiB ETA {eta:.0f}s")


def _update_delta(update: RoundUpdate) -> Delta:
    return update.delta


def _update_state(update: RoundUpdate) -> Any:
    return update.state


def _update_figures(update: RoundUpdate) -> dict[str, Any]:
    return update.figures


class _Flight:
    """The rounds submitted since the last (re)start: their shard results, statistics and merge futures.

    ``token`` names this attempt; delta rules' per-worker model copies carry
    it, so a copy left by a failed attempt is never used by a new one.
    """

    def __init__(self, client, spec: RunSpec, rounds: list[Round], pinned: list[str], first: int,
                 starts: list, state) -> None:
        self.client, self.spec, self.rounds, self.pinned = client, spec, rounds, pinned
        self.first, self.next, self.starts, self.state = first, first, starts, state
        self.token = uuid.uuid4().hex[:8]
        self.results: dict[int, list] = {}
        self.stats: dict[int, list] = {}
        self.roots: dict[int, Any] = {}  # delta rules: round -> its RoundUpdate future
        self.states: dict[int, Any] = {}  # stateful delta rules: round -> the rule's state after it

    @classmethod
    def begin(cls, client, spec: RunSpec, rounds: list[Round], first: int, attempt: int = 0) -> _Flight:
        """A flight from round ``first`` on the workers alive now, starting from the checkpoint before it."""
        pinned = pin_shards(_live_workers(client), len(spec.shards))
        return cls(client, spec, rounds, pinned, first, *_restart_state(client, spec, first, attempt))

    def wait_for(self, index: int) -> tuple[list[dict[str, Any]], dict[str, Any], Any]:
        """Round ``index``'s shard statistics and rule figures, once the round after it is submitted.

        After the last round, also a future of the final weights (else None),
        whose combination gives that round's figures.
        """
        last = len(self.rounds) - 1
        self.submit_through(min(index + 1, last))
        stats = self.client.gather(self.stats[index])
        final = self.finish() if index == last else None
        return stats, self.figures(index), final

    def submit_through(self, index: int) -> None:
        """Submit every round up to ``index`` not submitted yet."""
        while self.next <= index:
            self._submit(self.next)
            self.next += 1

    def _submit(self, index: int) -> None:
        round_ = self.rounds[index]
        tag = f"{self.spec.run_id}-r{round_.index}-{self.token}"
        starts, checkpoint = self._starts(index, tag)
        task, extra = (delta_train_task, [self.token]) if _sends_deltas(self.spec) else (train_task, [])
        results = [self.client.submit(task, self.spec, i, starts[i], round_, *extra, *(checkpoint if i == 0 else []),
                                      workers=[worker], allow_other_workers=True, pure=False,
                                      key=f"train-{tag}-s{i}")
                   for i, worker in enumerate(self.pinned)]
        self.results[index] = results
        self.stats[index] = [self.client.submit(stats_task, r, key=f"stats-{tag}-s{i}") for i, r in enumerate(results)]

    def _starts(self, index: int, tag: str) -> tuple[list, list]:
        """What each trainer of round ``index`` starts from, and the checkpoint arguments of shard 0's trainer.

        Shard 0's trainer writes the previous round's combined model (and a
        delta rule's state) beside its training; a flight's first round
        starts from the checkpoint already written.
        """
        if index == self.first:
            return self.starts, []
        if _sends_deltas(self.spec):
            starts, state = self._delta_start(index - 1, tag)
            return starts, [index - 1, state]
        return next_start(self.client, self.spec, self.results[index - 1], tag), [index - 1]

    def _state_before(self, index: int) -> Any:
        """A stateful rule's state after round ``index - 1`` (from the checkpoint in a flight's first round)."""
        return self.state if index == self.first else self.states[index - 1]

    def _delta_start(self, previous: int, tag: str, last: bool = False) -> tuple[list, Any]:
        """For a delta rule: what every trainer after round ``previous`` starts from, and the rule's state."""
        results = self.results[previous]
        if _fused(self.spec, len(results)):
            return [results] * len(results), None
        stateful = self.spec.rule.stateful
        before = self._state_before(previous) if stateful else None
        root = self.roots[previous] = delta_root(self.client, self.spec, results, before, self.rounds[previous].index,
                                                 last, self.pinned[0], tag)
        update = self.client.submit(_update_delta, root, key=f"update-{tag}")
        if stateful:
            self.states[previous] = self.client.submit(_update_state, root, key=f"state-{tag}")
        return [update] * len(results), self.states.get(previous)

    def figures(self, index: int) -> dict[str, Any]:
        """The rule's figures for round ``index`` (its root's), once that root exists; else none."""
        if index not in self.roots:
            return {}
        return self.client.submit(_update_figures, self.roots[index], key=f"figures-{self.roots[index].key}").result()

    def finish(self):
        """A future of the combined weights after the last round, once they are checkpointed as its own."""
        last = len(self.rounds) - 1
        tag = f"{self.spec.run_id}-final-{self.token}"
        if _sends_deltas(self.spec):
            starts, state = self._delta_start(last, tag, last=True)
            weights = self.client.submit(final_weights_task, self.spec, len(self.rounds), starts[0], self.token,
                                         workers=[self.pinned[0]], allow_other_workers=True, pure=False,
                                         key=f"final-{tag}")
        else:
            weights, state = combine(self.client, self.spec, self.results[last], tag), None
        self.client.submit(checkpoint_task, self.spec, last, weights, state, key=f"checkpoint-{tag}").result()
        return weights

    def forget_before(self, index: int) -> None:
        """Drop the futures of rounds before ``index`` (their dependents keep what they still need)."""
        for old in [k for k in self.results if k < index]:
            del self.results[old], self.stats[old]
            self.roots.pop(old, None)
            self.states.pop(old, None)  # read by round old + 1's root, submitted with round old + 2

    def settle(self) -> None:
        """After a failure: let every submitted trainer finish or fail, so no checkpoint is still being written."""
        pending = [f for results in self.results.values() for f in results]
        wait(pending)
        self.client.cancel(pending + list(self.roots.values()))


def _total_loss(stats: list[dict[str, Any]]) -> float | None:
    """The round's training loss summed over shards; None when gensim was not asked to compute it."""
    losses = [x["loss"] for x in stats]
    return None if None in losses else sum(losses)


def _record(round_: Round, stats: list[dict[str, Any]], seconds: float, moved: int, spec: RunSpec,
            figures: dict[str, Any], n_workers: int) -> dict[str, Any]:
    """A round's line of ``round_log``.

    ``merge_seconds`` is the round's wall time beyond the busiest worker's
    training (shards placed by :func:`pin_shards`): exchanging, combining
    and waiting, as the user's cluster sees it.
    """
    words = sum(x["words"] for x in stats)
    pinned = pin_shards(list(range(n_workers)), len(stats))
    busiest = max(sum(x["seconds"] for x, w in zip(stats, pinned) if w == worker) for worker in set(pinned))
    return {"round": round_.index, "epoch": round_.epoch, "start_alpha": round_.start_alpha,
            "end_alpha": round_.end_alpha,
            "words": words, "shard_seconds": [x["seconds"] for x in stats], "loss": _total_loss(stats),
            "checkpoint": checkpoint_dir(spec.output, round_.index).name, "seconds": round(seconds, 3),
            "merge_seconds": round(max(seconds - busiest, 0.0), 3),
            "words_per_s": round(words / max(seconds, 1e-9)), "bytes_moved": moved,
            "rule": {"name": spec.rule.name, **figures}}


def _saved_weights(saved: SavedModel) -> ModelWeights:
    return saved.weights


def _saved_state(saved: SavedModel) -> dict[str, np.ndarray] | None:
    return saved.state


def _restart_state(client, spec: RunSpec, start: int, attempt: int = 0) -> tuple[list, Any]:
    """What round ``start`` begins from, for every shard, and the rule's state.

    Every shard starts from the previous round's checkpoint, or from None
    (gensim's seeded initialisation) in round 0.
    """
    if start == 0:
        return [None] * len(spec.shards), None
    tag = f"{spec.run_id}-{start - 1}-{attempt}"
    saved = client.submit(load_task, checkpoint_dir(spec.output, start - 1), key=f"load-{tag}")
    weights = client.submit(_saved_weights, saved, key=f"weights-{tag}")
    state = client.submit(_saved_state, saved, key=f"state-{tag}") if _sends_deltas(spec) else None
    return [weights] * len(spec.shards), state


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]

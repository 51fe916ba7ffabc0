"""Merge rules' algebra on small arrays: the contract, AdaSum, block momentum, touched-row average, sparse deltas."""

from __future__ import annotations

import numpy as np
import pytest

from shardvec.dask.train_job import bytes_moved, pin_shards
from shardvec.errors import ConfigError
from shardvec.train.deltas import Delta, Rows, add_into, combine_rows, delta_between
from shardvec.train.rules import (RULES, AdaSum, DeltaRule, RuleSettings, WeightRule, adasum_pair, make_rule,
                                   reduce_tree)
from shardvec.train.weights import ModelWeights

V, D = 12, 4


def rows(index: list[int], values: np.ndarray) -> Rows:
    return Rows(np.asarray(index, np.int32), np.asarray(values, np.float32), np.ones(len(index), np.int32))


def dense_delta(vectors: np.ndarray, output: np.ndarray) -> Delta:
    """A delta over every row (zeros included), as a shard that touched everything would send."""
    every = list(range(len(vectors)))
    return Delta(rows(every, vectors), rows(every, output))


def random_shard_deltas(n: int, seed: int = 0, touched: float = 0.5) -> list[ModelWeights]:
    """Shard results as start + change on a random subset of rows (the rest untouched)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        mask = (rng.random(V) < touched)[:, None]
        out.append(ModelWeights((rng.normal(size=(V, D)) * mask).astype(np.float32),
                                (rng.normal(size=(V, D)) * mask).astype(np.float32)))
    return out


def applied(start: ModelWeights, update: Delta) -> ModelWeights:
    result = start.copy()
    add_into(result.vectors, update.vectors)
    add_into(result.output, update.output)
    return result


def test_every_rule_is_registered_with_its_contract() -> None:
    assert set(RULES) >= {"periodic", "average", "procrustes", "adasum", "bmuf", "touched"}
    for name, cls in RULES.items():
        rule = make_rule(name)
        assert rule.name == name and rule.summary and rule.lr_multiplier(16) > 0
        assert isinstance(rule, WeightRule if cls.exchange == "weights" else DeltaRule)
    assert make_rule("periodic").lr_multiplier(16) == 16.0 and make_rule("average").lr_multiplier(16) == 1.0
    assert make_rule("adasum", RuleSettings(lr_scale=2.5)).lr_multiplier(64) == 2.5
    adasum = make_rule("adasum")
    assert [adasum.lr_multiplier(k) for k in (1, 2, 8, 16, 64, 128)] == [2.0, 2.0, 3.0, 4.0, 4.0, 4.0]
    with pytest.raises(ConfigError, match="must be one of periodic"):
        make_rule("sum")


def test_adasum_of_equal_deltas_is_that_delta_and_of_orthogonal_ones_their_sum() -> None:
    a = np.array([[1.0, 2.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0]], np.float32)
    b = np.array([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 5.0, 0.0]], np.float32)
    out = adasum_pair(a, b)
    assert np.array_equal(out[0], a[0])  # same direction, same size: averaged
    assert np.array_equal(out[1], a[1] + b[1])  # orthogonal: summed
    # Parallel deltas of different sizes are averaged; a row only one side touched is taken as it is.
    assert np.allclose(adasum_pair(a[:1] * 3, a[:1]), a[:1] * 2)
    zero = np.zeros_like(a)
    assert np.array_equal(adasum_pair(a, zero), a) and np.array_equal(adasum_pair(zero, b), b)


def test_adasum_reduces_in_the_documented_tree_order() -> None:
    parts = [dense_delta(m.vectors, m.output) for m in random_shard_deltas(5)]
    pair = AdaSum().pair
    level1 = [pair(parts[0].vectors.values, parts[1].vectors.values), pair(parts[2].vectors.values,
                                                                           parts[3].vectors.values)]
    expected = pair(pair(level1[0], level1[1]), parts[4].vectors.values)
    assert np.array_equal(AdaSum().reduce(parts).vectors.values, expected)


def test_sum_rules_reduce_in_a_tree_as_flat() -> None:
    shards = random_shard_deltas(8, seed=1)
    parts = [dense_delta(m.vectors, m.output) for m in shards]
    total = make_rule("touched").reduce(parts)
    assert np.allclose(total.vectors.values, sum(m.vectors for m in shards), atol=1e-5)
    assert np.array_equal(total.vectors.hits, np.full(V, 8))


def test_combine_rows_matches_rows_by_number_whatever_the_overlap() -> None:
    a = rows([1, 4, 7], [[1.0], [2.0], [3.0]])
    b = rows([0, 4, 9], [[10.0], [20.0], [30.0]])
    out = combine_rows(a, b, lambda x, y: x + y)
    assert out.index.tolist() == [0, 1, 4, 7, 9] and out.values[:, 0].tolist() == [10, 1, 22, 3, 30]
    assert out.hits.tolist() == [1, 1, 2, 1, 1] and out.index.dtype == np.int32
    empty = rows([], np.zeros((0, 1)))
    for left, right in ((a, empty), (empty, a)):
        alone = combine_rows(left, right, lambda x, y: x + y)
        assert alone.index.tolist() == [1, 4, 7] and alone.values[:, 0].tolist() == [1, 2, 3]
    same = combine_rows(a, a, lambda x, y: x * y)  # the same rows on both sides: combined in place
    assert same.index.tolist() == [1, 4, 7] and same.values[:, 0].tolist() == [1, 4, 9] and same.hits.tolist() == [2] * 3


@pytest.mark.parametrize("name", ["adasum", "touched", "bmuf"])
def test_sparse_deltas_reproduce_the_dense_result_bit_for_bit(name: str) -> None:
    start = ModelWeights(np.ones((V, D), np.float32), np.full((V, D), 0.5, np.float32))
    shards = [ModelWeights(start.vectors + m.vectors, start.output + m.output) for m in random_shard_deltas(4, 2)]
    rule = make_rule(name)
    sparse = [delta_between(m, start) for m in shards]
    assert all(len(p.vectors.index) < V for p in sparse)  # untouched rows are not sent
    dense = [dense_delta(m.vectors - start.vectors, m.output - start.output) for m in shards]
    for_sparse, _ = rule.step(rule.reduce(sparse), 4, None)
    a = applied(start, for_sparse)
    if name == "touched":  # a dense delta counts every row as touched: check against the rule by hand instead
        changes = np.stack([m.vectors - start.vectors for m in shards])
        touched = np.maximum(changes.any(axis=2).sum(axis=0), 1)[:, None]
        assert np.allclose(a.vectors, start.vectors + changes.sum(axis=0) / touched, atol=1e-6)
        return
    b = applied(start, rule.step(rule.reduce(dense), 4, None)[0])
    assert np.array_equal(a.vectors, b.vectors) and np.array_equal(a.output, b.output)


def test_float16_deltas_stay_within_a_stated_tolerance() -> None:
    start = ModelWeights(np.ones((V, D), np.float32), np.full((V, D), 0.5, np.float32))
    shards = [ModelWeights(start.vectors + m.vectors * 0.01, start.output + m.output * 0.01)
              for m in random_shard_deltas(4, 3)]
    rule = make_rule("adasum")
    exact = applied(start, rule.reduce([delta_between(m, start) for m in shards]))
    half_parts = [delta_between(m, start, "float16") for m in shards]
    assert half_parts[0].vectors.values.dtype == np.float16
    half = applied(start, rule.reduce(half_parts).encoded("float16"))
    # float16 keeps 11 significant bits: each change is off by at most ~1e-3 of its size.
    change = np.abs(exact.vectors - start.vectors).max()
    assert np.abs(half.vectors - exact.vectors).max() <= 2e-3 * change
    assert half.nbytes == exact.nbytes and sum(p.nbytes for p in half_parts) < 0.75 * sum(
        delta_between(m, start).nbytes for m in shards)


def test_touched_average_divides_each_row_by_the_shards_that_touched_it() -> None:
    a = Delta(rows([0, 1], [[2.0] * D, [4.0] * D]), rows([0], [[1.0] * D]))
    b = Delta(rows([1, 2], [[6.0] * D, [8.0] * D]), rows([0], [[3.0] * D]))
    rule = make_rule("touched")
    update, _ = rule.step(rule.reduce([a, b]), 2, None)
    assert update.vectors.index.tolist() == [0, 1, 2]
    assert update.vectors.values[:, 0].tolist() == [2.0, 5.0, 8.0]
    assert update.output.values[:, 0].tolist() == [2.0]


def test_block_momentum_with_eta_0_is_the_plain_average() -> None:
    shards = random_shard_deltas(4, seed=4, touched=1.0)
    parts = [dense_delta(m.vectors, m.output) for m in shards]
    rule = make_rule("bmuf", RuleSettings(momentum=0.0))
    update, state = rule.step(rule.reduce(parts), 4, None)
    assert np.allclose(update.vectors.values, np.mean([m.vectors for m in shards], axis=0), atol=1e-6)
    assert set(state) == {"vectors", "output"}


def test_block_momentum_follows_the_nesterov_recursion() -> None:
    """Two rounds by hand: D1 = zeta G1, S1 = W1 + eta D1; D2 = eta D1 + zeta G2, S2 = W2 + eta D2."""
    eta, zeta, k = 0.75, 0.5, 4
    rule = make_rule("bmuf", RuleSettings(momentum=eta, block_lr=zeta))
    g = [np.full((V, D), 0.4, np.float32), np.full((V, D), -0.2, np.float32)]
    state, start, w = None, np.zeros((V, D), np.float32), np.zeros((V, D), np.float32)
    d = np.zeros((V, D), np.float32)
    for gradient in g:
        total = dense_delta(gradient * k, gradient * k)  # the shards' deltas summed: mean = gradient
        update, state = rule.step(total, k, state)
        d = eta * d + zeta * gradient
        w = w + d
        start = start + update.vectors.values
        assert np.allclose(start, w + eta * d, atol=1e-6)
    assert np.allclose(state["vectors"], d) and rule.describe(state)["momentum_norm"] > 0


def test_bytes_moved_counts_each_worker_from_its_own_baseline() -> None:
    before = {"w-a": 1000, "w-b": 500}
    # w-b was lost and replaced by w-c (a new id, counting from zero); w-a sent 200 more.
    assert bytes_moved(before, {"w-a": 1200, "w-c": 300}) == 500
    # A counter that went back (the same id restarted) counts from zero: never a negative total.
    assert bytes_moved(before, {"w-a": 100, "w-b": 600}) == 100 + 100


def test_neighbouring_shards_share_a_worker_so_the_tree_reduces_locally() -> None:
    assert pin_shards(["a", "b"], 8) == ["a"] * 4 + ["b"] * 4
    assert pin_shards(["a", "b", "c"], 2) == ["a", "b"]
    assert pin_shards(["a", "b"], 3) == ["a", "a", "b"]


def test_block_momentum_finishes_on_the_block_model_not_the_lookahead() -> None:
    """After the last round the model is W_T = S_T + zeta G_T, not W_T + eta D_T."""
    eta, k = 0.75, 4
    rule = make_rule("bmuf", RuleSettings(momentum=eta))
    g = np.full((V, D), 0.4, np.float32)
    _, state = rule.step(dense_delta(g * k, g * k), k, None)  # D1 = G; start S1 = W1 + eta D1
    final = rule.finish(dense_delta(g * k, g * k), k, state)
    assert np.allclose(final.vectors.values, g)  # W2 - S1 = (W1 + D2) - (W1 + eta D1) = G


def test_the_dask_tree_pairs_parts_as_the_rules_do() -> None:
    """The job's reduce tasks and a rule's own reduce take the same groups, level by level."""
    from shardvec.dask.train_job import _tree

    for n in (3, 5, 8, 16):
        submitted: list[list] = []

        def submit(group: list, key: str) -> str:
            submitted.append(list(group))
            return f"({'+'.join(map(str, group))})"

        top = _tree([str(i) for i in range(n)], "t", submit)
        expected = reduce_tree([str(i) for i in range(n)], lambda group, level, i: f"({'+'.join(group)})")
        assert top == expected and len(top) <= 2 and len(submitted) >= n // 2 - 1


@pytest.mark.parametrize("rule, threads, expected", [
    ("periodic", 1, 3 * 8 + 2),   # each of 8 shards: its model, its last result, its next start
    ("adasum", 1, 1 + 8 + 3),     # one borrowed model, 8 deltas, the worker's copy and two being combined
    ("adasum", 4, 4 + 8 + 3),     # a model per round running at once
    ("bmuf", 1, 1 + 8 + 3 + 3),   # and the root's momentum and its temporaries
])
def test_the_memory_check_counts_what_each_rule_keeps_per_worker(rule: str, threads: int, expected: int) -> None:
    from types import SimpleNamespace

    from shardvec.dask.train_job import check_memory
    from shardvec.errors import ConfigError

    workers = {f"w{i}": {"nthreads": threads, "memory_limit": 10**12} for i in range(2)}
    client = SimpleNamespace(scheduler_info=lambda n_workers: {"workers": workers})
    state = 2 * 1000 * 100 * 4
    assert check_memory(client, 1000, 100, 16, make_rule(rule))["estimated_per_worker_bytes"] == expected * state
    for w in workers.values():
        w["memory_limit"] = expected * state - 1
    with pytest.raises(ConfigError, match="per worker"):
        check_memory(client, 1000, 100, 16, make_rule(rule))


def test_a_workers_model_copy_follows_its_attempt() -> None:
    """Built once per round, updated once, and never taken from a failed attempt."""
    from types import SimpleNamespace

    from shardvec.dask.train_job import _WORKER, _round_start

    spec = SimpleNamespace(run_id="replica-test", rule=make_rule("adasum"), shards=(0, 1), delta_dtype="float32")
    start = ModelWeights(np.zeros((V, D), np.float32), np.zeros((V, D), np.float32))
    try:
        base = _round_start(spec, 3, start, "a")
        assert _round_start(spec, 3, start, "a") is base and base.vectors is not start.vectors  # one copy
        update = Delta(rows([1], [[1.0] * D]), rows([2], [[2.0] * D]))
        assert _round_start(spec, 4, update, "a") is base and base.vectors[1, 0] == 1.0
        assert _round_start(spec, 4, update, "a").vectors[1, 0] == 1.0  # the second trainer: not added twice
        with pytest.raises(RuntimeError, match="no copy of the model before round 6"):
            _round_start(spec, 6, update, "a")  # a round was missed
        with pytest.raises(RuntimeError, match="no copy"):
            _round_start(spec, 5, update, "b")  # another attempt's copy is never used
        fresh = _round_start(spec, 5, start, "b")  # the new attempt's dense start replaces it
        assert fresh.vectors[1, 0] == 0.0
    finally:
        _WORKER.replicas.pop("replica-test", None)

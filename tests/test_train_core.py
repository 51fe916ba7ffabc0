"""The training core without a cluster: vocabulary order, schedule, merge rules, checkpoints."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from train_helpers import average, procrustes

from shardvec.corpus import SHARD_SCHEMA, Vocab
from shardvec.storage import Store
from shardvec.train import merge
from shardvec.train.buffers import ArrayPool
from shardvec.train.materialise import materialise_shard
from shardvec.train.merge import orthogonal_map
from shardvec.train.model_io import latest_checkpoint, load_model, save_checkpoint
from shardvec.train.params import Word2VecParams
from shardvec.train.rules import make_rule, quality_warning
from shardvec.train.schedule import periodic_rounds, rounds_per_epoch_for, single_round
from shardvec.train.trainer import (build_model, build_shard_model, get_weights, load_start, reseed, set_weights,
                                    train_round)
from shardvec.train.weights import ModelWeights

# Ties in count on purpose: gensim's own sort would order tied words differently.
VOCAB = Vocab.from_pairs([("the", 9), ("cat", 4), ("dog", 4), ("sat", 4), ("mat", 2), ("log", 2), ("on", 2)])
PARAMS = Word2VecParams(vector_size=8, window=2, negative=3, epochs=1, min_alpha=0.001)


def seeded_weights() -> ModelWeights:
    """What every trainer starts from: gensim's seeded initialisation, built by each for itself."""
    return get_weights(build_model(PARAMS, VOCAB))


def write_shard(path: Path, sentences: list[list[str]]) -> Path:
    pq.write_table(pa.table({"tokens": sentences}, schema=SHARD_SCHEMA), path)
    return path


def test_every_trainer_has_the_global_vocabulary_in_its_order() -> None:
    assert VOCAB.words == ["the", "cat", "dog", "sat", "log", "mat", "on"]
    a, b = build_model(PARAMS, VOCAB), build_model(PARAMS, VOCAB)
    assert a.wv.index_to_key == b.wv.index_to_key == VOCAB.words
    # Sub-sampling uses the global counts, not a shard's.
    assert a.wv.get_vecattr("cat", "count") == 4
    assert np.array_equal(a.wv.expandos["sample_int"], b.wv.expandos["sample_int"])
    # Same seed, same initial weights everywhere: each trainer builds its own, none are shipped.
    assert np.array_equal(seeded_weights().vectors, seeded_weights().vectors)


def test_materialise_splits_by_tokens_and_counts_words(tmp_path: Path) -> None:
    shard = write_shard(tmp_path / "s.parquet", [["the", "cat", "sat"], ["the", "dog", "xyz"], ["on", "the", "mat"],
                                                 ["the", "log"]])
    chunks = materialise_shard(Store(str(shard)), VOCAB, 2, tmp_path / "work")
    assert sum(chunks.words) == 11 and all(w > 0 for w in chunks.words)
    lines = [line for f in chunks.files for line in f.read_text().splitlines()]
    assert lines[0] == "the cat sat" and len(lines) == 4
    assert chunks.word_counts.tolist() == [4, 1, 1, 1, 1, 1, 1]


def test_train_round_changes_weights_and_keeps_shapes(tmp_path: Path) -> None:
    shard = write_shard(tmp_path / "s.parquet", [["the", "cat", "sat", "on", "the", "mat"]] * 50)
    chunks = materialise_shard(Store(str(shard)), VOCAB, 1, tmp_path / "work")
    start = seeded_weights()
    rnd = single_round(1, 0.025, 0.001)[0]
    model = build_model(PARAMS, VOCAB)
    set_weights(model, start)
    result = train_round(model, chunks, rnd, shard=0)
    assert result.weights.vectors.shape == start.vectors.shape
    assert not np.array_equal(result.weights.output, start.output)
    assert result.raw_words == 300 and result.loss > 0
    assert train_round(model, chunks, rnd, shard=0, compute_loss=False).loss is None


def test_a_reseeded_model_trains_a_round_the_same_whatever_it_trained_before(tmp_path: Path) -> None:
    """A borrowed model (delta rules) gives a shard's round the stream of that shard and round, not its own."""
    shard = write_shard(tmp_path / "s.parquet", [["the", "cat", "sat", "on", "the", "mat"]] * 50)
    chunks = materialise_shard(Store(str(shard)), VOCAB, 1, tmp_path / "work")
    round_ = single_round(1, 0.025, 0.001)[0]

    def trained(model) -> ModelWeights:
        set_weights(model, seeded_weights())
        reseed(model, PARAMS.seed, 3, 7)
        return train_round(model, chunks, round_, shard=3).weights.copy()

    fresh, used = build_shard_model(PARAMS, VOCAB), build_shard_model(PARAMS, VOCAB)
    train_round(used, chunks, round_, shard=0)  # another shard's round moved its random stream on
    a, b = trained(fresh), trained(used)
    assert np.array_equal(a.vectors, b.vectors) and np.array_equal(a.output, b.output)
    reseed(used, PARAMS.seed, 3, 8)  # the next round draws another stream
    set_weights(used, seeded_weights())
    assert not np.array_equal(train_round(used, chunks, round_, shard=3).weights.output, a.output)


def test_learning_rate_decays_once_across_all_rounds() -> None:
    rounds = periodic_rounds(epochs=3, rounds_per_epoch=4, alpha=0.025, min_alpha=0.0001, lr_scale=2.0)
    assert len(rounds) == 12
    assert rounds[0].start_alpha == pytest.approx(0.05) and rounds[-1].end_alpha == pytest.approx(0.0002)
    for before, after in zip(rounds, rounds[1:]):
        assert after.start_alpha == pytest.approx(before.end_alpha)  # continuous
        assert after.start_alpha < before.start_alpha                # decaying
    assert [r.chunk for r in rounds[:5]] == [0, 1, 2, 3, 0]
    assert [r.epoch for r in rounds[3:5]] == [0, 1]


def test_rules_beyond_their_measured_shard_counts_are_warned_about() -> None:
    periodic = make_rule("periodic")
    assert quality_warning(periodic, 8, 5, 10) is None
    warning = quality_warning(periodic, 16, 5, 10)
    assert warning is not None and "up to 8 shards" in warning and "has 16" in warning and "prepare.shards" in warning
    assert quality_warning(make_rule("average"), 64, 5, 1) is None  # merges once: no per-round quality claim
    adasum = make_rule("adasum")
    assert quality_warning(adasum, 64, 5, adasum.rounds_per_epoch(64)) is None
    assert "up to 128 shards" in (quality_warning(adasum, 129, 10, 5) or "")
    assert "not measured to keep one model's quality beyond one shard" in (quality_warning(make_rule("bmuf"), 2, 5, 10)
                                                                           or "")


def test_adasum_beyond_64_shards_is_warned_about_too_few_merges_with_the_epochs_it_needs() -> None:
    adasum = make_rule("adasum")
    assert adasum.rounds_per_epoch(128) == 15 and adasum.rounds_per_epoch(129) == 10
    assert adasum.min_merges(64) == 0 and adasum.min_merges(65) == 50
    assert quality_warning(adasum, 128, 5, adasum.rounds_per_epoch(128)) is None
    warning = quality_warning(adasum, 128, 5, 5)
    assert warning is not None and "at least 50 merges" in warning and "has 25 (5 epochs x 5)" in warning
    assert "raise train.epochs to 10" in warning
    assert "raise train.epochs to 9" in (quality_warning(adasum, 100, 2, 6) or "")  # ceil(50 / 6)
    assert quality_warning(adasum, 128, 10, 5) is None
    assert quality_warning(adasum, 128, 5, 40) is None  # sync_words on a large corpus: many merges per epoch


def test_average_weights_rows_by_counts() -> None:
    a = ModelWeights(np.ones((3, 2), np.float32), np.zeros((3, 2), np.float32))
    b = ModelWeights(3 * np.ones((3, 2), np.float32), np.ones((3, 2), np.float32))
    plain = average([a, b])
    assert np.allclose(plain.vectors, 2) and np.allclose(plain.output, 0.5)
    weighted = average([a, b], np.array([[1, 0, 0], [3, 1, 0]]))
    assert np.allclose(weighted.vectors[:, 0], [2.5, 3.0, 2.0])  # row 3 unseen: plain mean
    total = merge.weighted(a) + merge.weighted(b, np.array([3, 1, 0]))
    copied = merge.finish(total)
    assert copied.vectors is not total.vectors
    reused = merge.finish(total, in_place=True)  # the root of a round's reduction: its sum is its own
    assert reused.vectors is total.vectors and np.array_equal(reused.vectors, copied.vectors)
    assert np.array_equal(reused.output, copied.output)


@pytest.mark.parametrize("n_parts", [1, 2, 3])
def test_the_mean_loaded_into_a_trainer_equals_the_reduced_mean_bit_for_bit(n_parts: int) -> None:
    rng = np.random.default_rng(n_parts)
    parts = [ModelWeights(rng.normal(size=(7, 8)).astype(np.float32), rng.normal(size=(7, 8)).astype(np.float32))
             for _ in range(n_parts)]
    before = [p.vectors.copy() for p in parts]
    model = build_model(PARAMS, VOCAB)
    load_start(model, parts, ArrayPool())
    reduced = merge.finish(sum((merge.weighted(p) for p in parts[1:]), merge.weighted(parts[0])))
    loaded = get_weights(model)
    assert np.array_equal(loaded.vectors, reduced.vectors) and np.array_equal(loaded.output, reduced.output)
    assert all(np.array_equal(p.vectors, b) for p, b in zip(parts, before))  # results other tasks still read


def test_pool_reuses_an_array_only_once_nothing_else_holds_it() -> None:
    pool = ArrayPool()
    a = pool.take((4, 3), np.dtype(np.float32))
    b = pool.take((4, 3), np.dtype(np.float32))
    assert a is not b and len(pool) == 2
    a_id = id(a)
    del a
    assert id(pool.take((4, 3), np.dtype(np.float32))) == a_id and len(pool) == 2
    view, sent = b[1:], memoryview(pool.take((4, 3), np.dtype(np.float32)))  # a slice; a buffer being sent
    del b
    assert len({id(pool.take((4, 3), np.dtype(np.float32))) for _ in range(2)}) == 1 and len(pool) == 3
    assert pool.take((2, 3), np.dtype(np.float32)).shape == (2, 3) and len(pool) == 4  # another shape
    del view, sent
    pool.clear()
    assert len(pool) == 0


def test_round_results_are_never_overwritten_and_their_arrays_are_reused(tmp_path: Path) -> None:
    """A result is the model's own arrays (no copy); later rounds train on other, pooled ones."""
    shard = write_shard(tmp_path / "s.parquet", [["the", "cat", "sat", "on", "the", "mat"]] * 50)
    chunks = materialise_shard(Store(str(shard)), VOCAB, 1, tmp_path / "work")
    rounds = periodic_rounds(epochs=8, rounds_per_epoch=1, alpha=0.025, min_alpha=0.001, lr_scale=2.0)
    model, pool, other = build_model(PARAMS, VOCAB), ArrayPool(), seeded_weights()
    held = [train_round(model, chunks, rounds[0], shard=0)]
    copies = [get_weights(model)]
    for rnd in rounds[1:]:
        load_start(model, [held[-1].weights, other], pool)
        held.append(train_round(model, chunks, rnd, shard=0))
        copies.append(get_weights(model))
        assert held[-1].weights.vectors is model.wv.vectors and held[-1].weights.output is model.syn1neg
        if len(held) > 2:  # Dask releases a result once the next round has read it
            del held[0], copies[0]
        assert all(np.array_equal(r.weights.vectors, c.vectors) and np.array_equal(r.weights.output, c.output)
                   for r, c in zip(held, copies))
    # Three pairs of arrays (two results held, one round training) serve all 7 loaded rounds.
    assert len(pool) == 6


def test_a_shard_model_builds_gensims_vocabulary_table_once_and_trains_the_same(tmp_path: Path) -> None:
    from gensim.models import word2vec_corpusfile

    shard = write_shard(tmp_path / "s.parquet", [["the", "cat", "sat", "on", "the", "mat"], ["the", "dog"]] * 40)
    chunks = materialise_shard(Store(str(shard)), VOCAB, 2, tmp_path / "work")
    rounds = periodic_rounds(epochs=3, rounds_per_epoch=2, alpha=0.025, min_alpha=0.001, lr_scale=2.0)
    plain, reusing = build_model(PARAMS, VOCAB), build_shard_model(PARAMS, VOCAB)
    table = word2vec_corpusfile.CythonVocab
    assert table(reusing.wv, hs=0, fasttext=False) is table(reusing.wv, hs=0, fasttext=False)
    assert table(plain.wv, hs=0, fasttext=False) is not table(plain.wv, hs=0, fasttext=False)  # others: gensim's
    for rnd in rounds:
        a, b = train_round(plain, chunks, rnd, shard=0), train_round(reusing, chunks, rnd, shard=0)
        assert a.loss == b.loss
    assert np.array_equal(plain.wv.vectors, reusing.wv.vectors) and np.array_equal(plain.syn1neg, reusing.syn1neg)
    assert not np.array_equal(reusing.wv.vectors, seeded_weights().vectors)


def test_procrustes_undoes_a_rotation() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 8)).astype(np.float32)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    rotated = base @ q.astype(np.float32)
    assert np.allclose(rotated @ orthogonal_map(rotated, base), base, atol=1e-4)
    merged = procrustes([ModelWeights(base, base), ModelWeights(rotated, rotated)], None, anchors=100)
    assert np.allclose(merged.vectors, base, atol=1e-4) and np.allclose(merged.output, base, atol=1e-4)


def test_damaged_and_partial_checkpoints_are_skipped_with_a_message(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    w = seeded_weights()
    meta = {"params": PARAMS.to_dict()}
    out = Store(str(tmp_path))
    save_checkpoint(out, 0, w, VOCAB, meta)
    save_checkpoint(out, 1, w, VOCAB, meta)
    assert not (tmp_path / "checkpoints" / "round-00000").exists(), "older checkpoints are pruned"
    good = tmp_path / "checkpoints" / "round-00001"
    assert np.array_equal(load_model(Store(str(good))).weights.vectors, w.vectors)

    kept = shutil.copytree(good, tmp_path / "kept")
    newer = save_checkpoint(out, 2, w, VOCAB, meta).local
    newer_bytes = (newer / "vectors.npy").read_bytes()
    (newer / "vectors.npy").write_bytes(newer_bytes[: len(newer_bytes) // 2])  # a torn write
    (tmp_path / "checkpoints" / "round-00003").mkdir()  # a run killed while writing: no _SUCCESS
    shutil.copytree(kept, good)  # a good checkpoint below the broken ones
    found = latest_checkpoint(out)
    err = capsys.readouterr().err
    assert "ignoring checkpoint round-00003" in err and "incomplete" in err
    assert "ignoring checkpoint round-00002" in err and "damaged" in err
    assert found is not None and found.meta["round"] == 1


def test_sync_words_sets_the_rounds_from_the_shards_size() -> None:
    from shardvec.api import _round_plan
    from shardvec.config import TrainConfig

    assert rounds_per_epoch_for(8_000_000, 1_000_000) == 8 and rounds_per_epoch_for(100, 1_000) == 1
    train = TrainConfig(sync_words=250_000)
    plan = _round_plan(train, PARAMS, make_rule("adasum"), [1_000_000] * 16)
    assert plan.rounds_per_epoch == 4 and len(plan.rounds) == 4 * PARAMS.epochs
    assert plan.words_per_shard_round == 250_000 and plan.lr_multiplier == 4.0
    once = _round_plan(train, PARAMS, make_rule("average"), [1_000_000] * 16)
    assert len(once.rounds) == 1 and once.lr_multiplier == 1.0


def test_adasum_merges_at_the_interval_measured_best_for_its_shard_count_and_a_set_value_wins() -> None:
    """The interval measured best at each shard count (docs/scaling.md); the keys still override it."""
    from shardvec.api import _round_plan
    from shardvec.config import TrainConfig
    from shardvec.train.rules import RuleSettings

    def plan(rule: str, shards: int, **keys: int):
        train = TrainConfig(**keys)
        return _round_plan(train, PARAMS, make_rule(rule, RuleSettings.from_config(train)),
                           [16_000_000 // shards] * shards)

    shard_counts = (2, 3, 16, 17, 32, 33, 64, 128, 129)
    assert [plan("adasum", k).rounds_per_epoch for k in shard_counts] == [1, 10, 10, 20, 20, 15, 15, 15, 10]
    at_32 = plan("adasum", 32)
    assert at_32.words_per_shard_round == 16_000_000 // 32 // 20 and len(at_32.rounds) == 20 * PARAMS.epochs
    assert at_32.lr_multiplier == 4.0
    assert plan("bmuf", 64).rounds_per_epoch == plan("periodic", 64).rounds_per_epoch == 10  # their own default
    assert plan("adasum", 64, rounds_per_epoch=7).rounds_per_epoch == 7
    assert plan("adasum", 64, rounds_per_epoch=7, sync_words=125_000).rounds_per_epoch == 2


@pytest.mark.parametrize(("key", "value", "message"), [
    ("merge", "sum", "train.merge must be one of"), ("delta_dtype", "int8", "train.delta_dtype must be one of"),
    ("sync_words", -1, "train.sync_words"), ("lr_scale", -1.0, "train.lr_scale"), ("momentum", 1.0, "train.momentum"),
    ("block_lr", 0.0, "train.block_lr")])
def test_bad_merge_settings_are_one_line_errors(tmp_path: Path, key: str, value: object, message: str) -> None:
    from shardvec import api
    from shardvec.config import Config
    from shardvec.errors import ConfigError

    cfg = Config()
    cfg.train.corpus, cfg.train.output = str(tmp_path / "c"), str(tmp_path / "v")
    setattr(cfg.train, key, value)
    with pytest.raises(ConfigError, match=message):
        api.train(cfg)

"""Continued Word2Vec training from a train directory or a bare vectors file, and target-only vectors."""

from __future__ import annotations

import numpy as np
import pytest

from finetune_helpers import train_word2vec, write_train_dir, write_vectors_file
from shardvec.errors import InputError
from shardvec.finetune.adapt import AdaptSettings, adapt_vectors, load_pretrained, save_vectors, train_target_vectors
from shardvec.train.params import Word2VecParams
from shardvec.vectors import load_keyed_vectors

BASE = [["cat", "dog", "pet", "animal", "fur"], ["car", "road", "drive", "wheel", "engine"]] * 150
TARGET = [["cat", "kitten", "purr", "pet"], ["car", "tesla", "drive", "battery"]] * 40 + [["rareword", "cat"]]


@pytest.fixture(scope="module")
def base_model():
    return train_word2vec(BASE, vector_size=16, epochs=3)


def test_adapt_continues_the_full_model(tmp_path, base_model):
    pretrained = load_pretrained(str(write_train_dir(base_model, tmp_path / "train")))
    assert pretrained.model is not None
    assert pretrained.params(seed=0).vector_size == 16 and pretrained.params(seed=0).workers == 1
    kv, report = adapt_vectors(pretrained, TARGET, AdaptSettings(epochs=3, min_count=2, lock=1.0, seed=0))
    assert report["output_weights"] == "continued from model/"
    assert report["words_added"] == 4  # kitten, purr, tesla, battery; rareword is below min_count
    assert "rareword" not in kv and "kitten" in kv
    assert kv.index_to_key[:len(pretrained.kv)] == pretrained.kv.index_to_key
    assert not np.array_equal(kv["cat"], pretrained.kv["cat"])
    assert np.array_equal(kv["fur"], pretrained.kv["fur"])  # not in the target texts, so never updated
    assert report["tokens"] == sum(len(s) for s in TARGET)


def test_adapt_lock_zero_freezes_pretrained_rows(tmp_path, base_model):
    pretrained = load_pretrained(str(write_train_dir(base_model, tmp_path / "train")))
    kv, _ = adapt_vectors(pretrained, TARGET, AdaptSettings(epochs=2, min_count=2, lock=0.0, seed=0))
    old = len(pretrained.kv)
    assert np.array_equal(kv.vectors[:old], pretrained.kv.vectors)
    assert len(kv) == old + 4


def test_adapt_from_a_vectors_file_starts_output_weights_fresh(tmp_path, base_model):
    pretrained = load_pretrained(str(write_vectors_file(base_model, tmp_path / "vectors.bin")))
    assert pretrained.model is None and pretrained.params(seed=7).seed == 7
    kv, report = adapt_vectors(pretrained, TARGET, AdaptSettings(epochs=2, min_count=1, lock=1.0, seed=0))
    assert report["output_weights"].startswith("started fresh")
    assert report["words_added"] == 5 and "rareword" in kv


def test_saved_adapted_vectors_load_back(tmp_path, base_model):
    pretrained = load_pretrained(str(write_vectors_file(base_model, tmp_path / "vectors.bin")))
    kv, _ = adapt_vectors(pretrained, TARGET, AdaptSettings(epochs=1, min_count=2, lock=1.0, seed=0))
    save_vectors(kv, tmp_path / "adapted.bin")
    back = load_keyed_vectors(tmp_path / "adapted.bin")
    assert set(back.index_to_key) == set(kv.index_to_key)
    assert np.allclose(back["kitten"], kv["kitten"])


def test_target_only_vectors(base_model):
    params = Word2VecParams(vector_size=12)
    kv = train_target_vectors(TARGET, params, AdaptSettings(epochs=2, min_count=2, lock=1.0, seed=0))
    assert kv.vector_size == 12 and "kitten" in kv and "rareword" not in kv and "fur" not in kv
    empty = train_target_vectors([["a"], ["b"]], params, AdaptSettings(epochs=1, min_count=5, lock=1.0, seed=0))
    assert len(empty) == 0


def test_incomplete_train_directory_is_refused(tmp_path, base_model):
    directory = write_train_dir(base_model, tmp_path / "train")
    (directory / "_SUCCESS").unlink()
    with pytest.raises(InputError, match="_SUCCESS"):
        load_pretrained(str(directory))
    with pytest.raises(InputError, match="do not exist"):
        load_pretrained(str(tmp_path / "missing.bin"))

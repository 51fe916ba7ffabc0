"""The trainable ``model/`` directory, checkpoints, and the shipped vectors files.

Nothing here is a pickle: weights are ``.npy`` (read with
``allow_pickle=False``), the vocabulary Parquet, parameters JSON, so a model
from elsewhere can be loaded without running its code.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shardvec.corpus import Vocab
from shardvec.errors import InputError
from shardvec.outputs import SUCCESS, mark_success, write_json_atomic
from shardvec.train.merge import ModelWeights

MODEL_SCHEMA = "shardvec.model/1"


@dataclass
class SavedModel:
    weights: ModelWeights
    vocab: Vocab
    meta: dict[str, Any]


def save_model(directory: Path, weights: ModelWeights, vocab: Vocab, meta: dict[str, Any]) -> None:
    """Write a model directory atomically: staged beside it, renamed, marked."""
    staging = directory.with_name(f".{directory.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    np.save(staging / "vectors.npy", weights.vectors)
    np.save(staging / "output_weights.npy", weights.output)
    pq.write_table(vocab.to_table(), staging / "vocab.parquet")
    write_json_atomic(staging / "model.json", {"schema": MODEL_SCHEMA, **meta})
    if directory.exists():
        shutil.rmtree(directory)
    staging.rename(directory)
    mark_success(directory)


def load_model(directory: Path) -> SavedModel:
    """Load and check a model directory; raises InputError with the reason if it is damaged."""
    if not (directory / SUCCESS).is_file():
        raise InputError(f"{directory} is incomplete (no {SUCCESS})")
    try:
        meta = json.loads((directory / "model.json").read_text())
        vectors = np.load(directory / "vectors.npy", allow_pickle=False)
        output = np.load(directory / "output_weights.npy", allow_pickle=False)
        vocab = Vocab.read(directory / "vocab.parquet")
    except (OSError, ValueError, json.JSONDecodeError, pa.ArrowException) as exc:
        raise InputError(f"{directory} is damaged: {type(exc).__name__}: {exc}") from None
    if meta.get("schema") != MODEL_SCHEMA:
        raise InputError(f"{directory} has schema {meta.get('schema')!r}; expected {MODEL_SCHEMA!r}")
    if vectors.shape != output.shape or vectors.shape[0] != len(vocab):
        raise InputError(f"{directory} is damaged: shapes {vectors.shape}, {output.shape}, vocab {len(vocab)}")
    return SavedModel(ModelWeights(vectors, output), vocab, meta)


def checkpoint_dir(output: Path, round_index: int) -> Path:
    return output / "checkpoints" / f"round-{round_index:05d}"


def save_checkpoint(output: Path, round_index: int, weights: ModelWeights, vocab: Vocab,
                    meta: dict[str, Any]) -> Path:
    """Write round ``round_index``'s combined model, then drop older checkpoints."""
    path = checkpoint_dir(output, round_index)
    save_model(path, weights, vocab, {**meta, "round": round_index})
    for old in (output / "checkpoints").glob("round-*"):
        if old.name < path.name:
            shutil.rmtree(old, ignore_errors=True)
    return path


def latest_checkpoint(output: Path) -> SavedModel | None:
    """The newest loadable checkpoint; damaged or partial ones are reported and skipped."""
    for path in sorted((output / "checkpoints").glob("round-*"), reverse=True):
        try:
            return load_model(path)
        except InputError as exc:
            print(f"[train] ignoring checkpoint {path.name}: {exc}", file=sys.stderr)
    return None


def write_vectors(output: Path, vocab: Vocab, vectors: np.ndarray, write_text: bool = False,
                  write_kv: bool = False) -> list[str]:
    """``vectors.bin`` (word2vec binary), ``vectors.parquet``, optionally ``vectors.txt`` and ``vectors.kv``.

    ``vectors.kv`` is gensim's native format, a pickle: fast to open with
    ``KeyedVectors.load(path, mmap="r")`` because the matrix is a separate
    ``.npy`` that is memory-mapped, not read. Load it only from a trusted source.
    """
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(vocab.words, vectors)
    for word, count in zip(vocab.words, vocab.counts.tolist()):
        kv.set_vecattr(word, "count", count)
    written = ["vectors.bin", "vectors.parquet"]
    _save_w2v(kv, output / "vectors.bin", binary=True)
    if write_text:
        _save_w2v(kv, output / "vectors.txt", binary=False)
        written.append("vectors.txt")
    if write_kv:
        kv.save(str(output / "vectors.kv"), separately=["vectors"])
        written.append("vectors.kv")
    d = vectors.shape[1]
    flat = pa.array(vectors.astype(np.float32).reshape(-1))
    table = pa.table({"word": vocab.words, "count": vocab.counts,
                      "vector": pa.FixedSizeListArray.from_arrays(flat, d)})
    tmp = output / ".vectors.parquet.tmp"
    pq.write_table(table, tmp)
    tmp.rename(output / "vectors.parquet")
    return written


def _save_w2v(kv, path: Path, binary: bool) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    kv.save_word2vec_format(str(tmp), binary=binary)
    tmp.rename(path)

"""The trainable ``model/`` directory, checkpoints, and the shipped vectors files.

Nothing here is a pickle: weights are ``.npy`` (read with
``allow_pickle=False``), the vocabulary Parquet, parameters JSON, so a model
from elsewhere can be loaded without running its code. Everything goes
through :class:`~shardvec.storage.Store`, so models can live in a data lake;
a directory counts only once its ``_SUCCESS`` is written, last.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shardvec.corpus import Vocab
from shardvec.errors import InputError
from shardvec.logs import stage_logger
from shardvec.storage import SUCCESS, Store, as_store, mark_success
from shardvec.train.weights import ModelWeights

log = stage_logger(__name__, "train")

MODEL_SCHEMA = "shardvec.model/1"
_STATE_PREFIX = "rule_state-"


@dataclass
class SavedModel:
    weights: ModelWeights
    vocab: Vocab
    meta: dict[str, Any]
    state: dict[str, np.ndarray] | None = None  # the merge rule's state between rounds (checkpoints only)


def save_model(directory: Store | Path, weights: ModelWeights, vocab: Vocab, meta: dict[str, Any],
               state: dict[str, np.ndarray] | None = None) -> None:
    """Write a model directory; it counts as written once ``_SUCCESS`` is there."""
    directory = as_store(directory)
    directory.remove()
    directory.mkdir()
    (directory / "vectors.npy").save_npy(weights.vectors)
    (directory / "output_weights.npy").save_npy(weights.output)
    for key, array in (state or {}).items():
        (directory / f"{_STATE_PREFIX}{key}.npy").save_npy(array)
    vocab.save(directory / "vocab.parquet")
    (directory / "model.json").write_json({"schema": MODEL_SCHEMA, **meta})
    mark_success(directory)


def load_model(directory: Store | Path) -> SavedModel:
    """Load and check a model directory; raises InputError with the reason if it is damaged."""
    directory = as_store(directory)
    if not (directory / SUCCESS).exists():
        raise InputError(f"{directory.url} is incomplete (no {SUCCESS})")
    try:
        meta = (directory / "model.json").read_json()
        vectors = (directory / "vectors.npy").load_npy()
        output = (directory / "output_weights.npy").load_npy()
        vocab = Vocab.load(directory / "vocab.parquet")
        state = {name.removeprefix(_STATE_PREFIX).removesuffix(".npy"): (directory / name).load_npy()
                 for name in directory.listdir() if name.startswith(_STATE_PREFIX)}
    except (ValueError, EOFError, pa.ArrowException) as exc:
        raise InputError(f"{directory.url} is damaged: {type(exc).__name__}: {exc}") from None
    if meta.get("schema") != MODEL_SCHEMA:
        raise InputError(f"{directory.url} has schema {meta.get('schema')!r}; expected {MODEL_SCHEMA!r}")
    if vectors.shape != output.shape or vectors.shape[0] != len(vocab):
        raise InputError(f"{directory.url} is damaged: shapes {vectors.shape}, {output.shape}, vocab {len(vocab)}")
    return SavedModel(ModelWeights(vectors, output), vocab, meta, state or None)


def checkpoint_dir(output: Store, round_index: int) -> Store:
    return output / "checkpoints" / f"round-{round_index:05d}"


def save_checkpoint(output: Store, round_index: int, weights: ModelWeights, vocab: Vocab,
                    meta: dict[str, Any], state: dict[str, np.ndarray] | None = None) -> Store:
    """Write round ``round_index``'s combined model (and the rule's state), then drop older checkpoints."""
    path = checkpoint_dir(output, round_index)
    save_model(path, weights, vocab, {**meta, "round": round_index}, state)
    for name in (output / "checkpoints").listdir():
        if name.startswith("round-") and name < path.name:
            (output / "checkpoints" / name).remove()
    return path


def last_committed_round(output: Store) -> int:
    """The newest round whose checkpoint is complete (``_SUCCESS`` written), or -1 if none is."""
    for name in reversed((output / "checkpoints").listdir()):
        if name.startswith("round-") and (output / "checkpoints" / name / SUCCESS).exists():
            return int(name.removeprefix("round-"))
    return -1


def latest_checkpoint(output: Store) -> SavedModel | None:
    """The newest loadable checkpoint; damaged or partial ones are reported and skipped."""
    for name in reversed((output / "checkpoints").listdir()):
        try:
            return load_model(output / "checkpoints" / name)
        except InputError as exc:
            log.warning(f"ignoring checkpoint {name}: {exc}")
    return None


def write_vectors(output: Store, vocab: Vocab, vectors: np.ndarray, write_text: bool = False,
                  write_kv: bool = False) -> list[str]:
    """``vectors.bin`` (word2vec binary), ``vectors.parquet``, optionally ``vectors.txt`` and ``vectors.kv``.

    ``vectors.kv`` is gensim's native format, a pickle: fast to open with
    ``KeyedVectors.load(path, mmap="r")`` because the matrix is a separate
    ``.npy`` that is memory-mapped, not read. Load it only from a trusted source.
    Files are written locally first (gensim writes paths), then stored.
    """
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(vocab.words, vectors)
    for word, count in zip(vocab.words, vocab.counts.tolist()):
        kv.set_vecattr(word, "count", count)
    d = vectors.shape[1]
    table = pa.table({"word": vocab.words, "count": vocab.counts,
                      "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.astype(np.float32).reshape(-1)), d)})
    with tempfile.TemporaryDirectory(prefix="shardvec-vectors-") as tmp:
        local = Path(tmp)
        kv.save_word2vec_format(str(local / "vectors.bin"), binary=True)
        pq.write_table(table, local / "vectors.parquet")
        if write_text:
            kv.save_word2vec_format(str(local / "vectors.txt"), binary=False)
        if write_kv:
            kv.save(str(local / "vectors.kv"), separately=["vectors"])
        written = sorted(p.name for p in local.iterdir())
        output.upload_dir(local)
    return written

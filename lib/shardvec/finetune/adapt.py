"""Word2Vec on the target texts: continued training of the pretrained model, or from scratch.

Continued training needs the output weights too (``syn1neg``/``syn1``), not
only the vectors: restarting them from zeros makes the first updates push the
pretrained vectors towards noise. A ``shardvec train`` directory has them in
``model/``; a bare vectors file does not, and then the output weights start
fresh and the adapt report says so. Target words missing from the pretrained
vocabulary are added (gensim ``build_vocab(update=True)``) and the pretrained
rows can be slowed or frozen through gensim's per-word ``vectors_lockf``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shardvec.corpus import Vocab
from shardvec.train.weights import ModelWeights
from shardvec.storage import Store
from shardvec.train.model_io import SavedModel, load_model
from shardvec.train.params import Word2VecParams
from shardvec.train.trainer import build_model, set_weights
from shardvec.vectors import load_keyed_vectors


@dataclass(frozen=True)
class Pretrained:
    """The pretrained vectors, plus the full model when the source has one."""

    kv: Any  # gensim KeyedVectors
    model: SavedModel | None
    source: str

    def params(self, seed: int) -> Word2VecParams:
        """The pretraining parameters, or gensim-like defaults at the vectors' size.

        One worker thread: target texts are small, and a single thread keeps
        runs reproducible from the seed.
        """
        if self.model is not None:
            known = {k: v for k, v in self.model.meta.get("params", {}).items()
                     if k in Word2VecParams.__dataclass_fields__}
            return dataclasses.replace(Word2VecParams(**known), workers=1)
        return Word2VecParams(vector_size=self.kv.vector_size, seed=seed, workers=1)


def load_pretrained(location: str) -> Pretrained:
    """Vectors from a train directory or file; the model too when ``model/`` exists."""
    kv = load_keyed_vectors(location)
    model_dir = Store(str(location)) / "model"
    model = load_model(model_dir) if model_dir.is_dir() else None
    return Pretrained(kv, model, str(location))


@dataclass(frozen=True)
class AdaptSettings:
    epochs: int
    min_count: int
    lock: float
    seed: int


def _start_weights(pretrained: Pretrained) -> tuple[Vocab, ModelWeights, str]:
    """Vocabulary and weights to continue from, and where the output weights came from."""
    if pretrained.model is not None:
        return pretrained.model.vocab, pretrained.model.weights, "model"
    kv = pretrained.kv
    counts = np.array([kv.get_vecattr(w, "count") or 1 for w in kv.index_to_key], dtype=np.int64)
    vectors = np.asarray(kv.vectors, dtype=np.float32)
    return Vocab(list(kv.index_to_key), counts), ModelWeights(vectors, np.zeros_like(vectors)), "fresh"


def adapt_vectors(pretrained: Pretrained, sentences: list[list[str]], settings: AdaptSettings) -> tuple[Any, dict]:
    """Continue training the pretrained model on ``sentences``; returns (KeyedVectors, report)."""
    start = time.perf_counter()
    params = pretrained.params(settings.seed)
    vocab, weights, output_from = _start_weights(pretrained)
    model = build_model(params, vocab)
    set_weights(model, weights)
    model.build_vocab(sentences, update=True, min_count=settings.min_count)
    lockf = np.ones(len(model.wv), dtype=np.float32)
    lockf[:len(vocab)] = settings.lock
    model.wv.vectors_lockf = lockf
    tokens = sum(len(s) for s in sentences)
    model.train(sentences, total_examples=len(sentences), total_words=tokens, epochs=settings.epochs,
                start_alpha=params.alpha, end_alpha=params.min_alpha, compute_loss=True)
    report = {
        "sentences": len(sentences), "tokens": tokens, "epochs": settings.epochs,
        "pretrained_words": len(vocab), "words_added": len(model.wv) - len(vocab),
        "min_count": settings.min_count, "lock": settings.lock,
        "output_weights": ("continued from model/" if output_from == "model"
                           else "started fresh: the vectors file has no output weights"),
        "params": params.to_dict(), "loss": float(model.get_latest_training_loss()),
        "seconds": round(time.perf_counter() - start, 3),
    }
    return model.wv, report


def train_target_vectors(sentences: list[list[str]], params: Word2VecParams, settings: AdaptSettings):
    """Word2Vec on the target texts alone, with the pretraining's parameters and size."""
    from gensim.models import Word2Vec

    model = Word2Vec(vector_size=params.vector_size, window=params.window, negative=params.negative,
                     hs=params.hs, sg=params.sg, sample=params.sample, alpha=params.alpha,
                     min_alpha=params.min_alpha, seed=settings.seed, workers=1, min_count=settings.min_count)
    model.build_vocab(sentences)
    if len(model.wv) == 0:
        return model.wv
    model.train(sentences, total_examples=len(sentences), epochs=settings.epochs)
    return model.wv


def save_vectors(kv, path: Path) -> None:
    """word2vec binary, loadable by ``finetune.vectors`` and ``shardvec evaluate``."""
    tmp = path.with_name(f".{path.name}.tmp")
    kv.save_word2vec_format(str(tmp), binary=True)
    tmp.rename(path)

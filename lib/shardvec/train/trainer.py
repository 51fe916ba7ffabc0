"""One shard's trainer: gensim Word2Vec on its fastest path, over the global vocabulary.

A trainer reads its shard as line-sentence files (:mod:`shardvec.train.materialise`)
so gensim trains with ``corpus_file=``. Every trainer builds the same vocabulary
in the same order from the global counts, so word ``i`` is the same row
everywhere and sub-sampling uses corpus-wide frequencies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from shardvec.corpus import Vocab
from shardvec.train.buffers import ArrayPool
from shardvec.train.materialise import ShardChunks
from shardvec.train.merge import mean_into
from shardvec.train.params import Word2VecParams
from shardvec.train.schedule import Round
from shardvec.train.vocab_table import keep_vocab_table
from shardvec.train.weights import ModelWeights


@dataclass(frozen=True)
class RoundResult:
    shard: int
    weights: ModelWeights
    word_counts: np.ndarray
    raw_words: int
    seconds: float
    loss: float | None  # None when gensim was not asked to compute it


def build_model(params: Word2VecParams, vocab: Vocab):
    """A gensim Word2Vec whose vocabulary is exactly ``vocab``, in its order."""
    from gensim.models import Word2Vec

    model = Word2Vec(vector_size=params.vector_size, window=params.window, negative=params.negative,
                     hs=params.hs, sg=params.sg, sample=params.sample, alpha=params.alpha,
                     min_alpha=params.min_alpha, seed=params.seed, workers=params.workers,
                     min_count=1, sorted_vocab=0)
    model.build_vocab_from_freq(dict(zip(vocab.words, vocab.counts.tolist())))
    if model.wv.index_to_key != vocab.words:
        raise RuntimeError("gensim reordered the vocabulary; shard trainers would disagree on word indices")
    return model


def build_shard_model(params: Word2VecParams, vocab: Vocab):
    """``build_model`` for a shard trainer: its vocabulary never changes, so gensim's C table of it is built once."""
    model = build_model(params, vocab)
    keep_vocab_table(model.wv)
    return model


def _arrays(model) -> ModelWeights:
    """The model's own input and output arrays (not copies)."""
    return ModelWeights(model.wv.vectors, model.syn1neg if model.negative else model.syn1)


def _point_at(model, weights: ModelWeights) -> None:
    """Make ``weights``' arrays the ones gensim trains (it reads them afresh at every ``train`` call)."""
    model.wv.vectors = weights.vectors
    if model.negative:
        model.syn1neg = weights.output
    else:
        model.syn1 = weights.output


def get_weights(model) -> ModelWeights:
    arrays = _arrays(model)
    return ModelWeights(arrays.vectors.copy(), arrays.output.copy())


def set_weights(model, weights: ModelWeights) -> None:
    arrays = _arrays(model)
    arrays.vectors[...] = weights.vectors
    arrays.output[...] = weights.output


def reseed(model, seed: int, shard: int, round_index: int) -> None:
    """Give the model the random stream of this shard's round (negative samples, down-sampling draws).

    gensim draws each training call's seed from ``model.random``; a model
    that trains rounds of many shards (delta rules share a few models per
    worker) would otherwise give a shard's round whatever stream that model
    had reached, and the run would depend on which worker ran what, and when.
    With ``train.workers`` > 1 gensim's threads still take their draws in no
    fixed order, so only a one-thread trainer's round is reproducible.
    """
    model.random = np.random.RandomState([seed & 0xFFFFFFFF, shard, round_index])


def pooled_mean(pool: ArrayPool, parts: list[ModelWeights]) -> ModelWeights:
    """The plain mean of ``parts`` (of one part: a copy) in arrays taken from ``pool``."""
    like = parts[0]
    out = ModelWeights(pool.take(like.vectors.shape, like.vectors.dtype),
                       pool.take(like.output.shape, like.output.dtype))
    mean_into(out, parts)
    return out


def load_start(model, parts: list[ModelWeights], pool: ArrayPool) -> ModelWeights:
    """Point the model at pooled arrays holding the mean of ``parts``, the weights its next round starts from.

    The arrays the model trained before are left as they are: they are its
    previous round's result (``train_round`` returns them without a copy),
    which other tasks may still read. Returns the arrays now in the model.
    """
    start = pooled_mean(pool, parts)
    _point_at(model, start)
    return start


def train_round(model, chunks: ShardChunks, round_: Round, shard: int, compute_loss: bool = True) -> RoundResult:
    """Train one round on this shard's chunk from the weights the model holds.

    The result is the model's own arrays, not a copy, so it must not train
    again on them: a trainer's next round first moves it onto other arrays
    (``load_start``), and a fresh model's are its own.
    """
    path = chunks.files[round_.chunk]
    start = time.perf_counter()
    raw = chunks.words[round_.chunk]
    if raw:
        model.train(corpus_file=str(path), total_words=raw, epochs=round_.epochs,
                    start_alpha=round_.start_alpha, end_alpha=round_.end_alpha, compute_loss=compute_loss)
    seconds = time.perf_counter() - start
    loss = (float(model.get_latest_training_loss()) if raw else 0.0) if compute_loss else None
    return RoundResult(shard, _arrays(model), chunks.word_counts, raw * round_.epochs, seconds, loss)

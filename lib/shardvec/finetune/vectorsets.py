"""The vector settings a report compares, all built from the same training texts.

* ``random``: random vectors for every training word, frozen: what word
  identity alone gives, with no pretraining at all.
* ``target``: Word2Vec trained on the target training texts alone, frozen.
* ``pretrained``: the pretrained vectors, frozen.
* ``adapted``: the pretrained model trained further on the target texts, frozen.
* ``finetuned``: the pretrained vectors, updated by the classifier's gradient.
* ``adapted+finetuned``: the adapted vectors, updated by the classifier's
  gradient: modes ``adapt`` and ``classify``/``tag`` combined. Adapting gives
  the target's own words a vector (pretraining may never have seen them);
  fine-tuning then shapes every vector for the labels.

A setting may also run a second time with word bigrams in the lexical part
(``finetune.bigram_settings``; classify): it is reported as
``<setting>+bigrams`` and reads the same vectors (:func:`vectors_of`).

Only texts of the training split are used for the unsupervised settings, so
no dev or test sentence ever shapes vectors that are then scored on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shardvec.finetune.adapt import AdaptSettings, Pretrained, adapt_vectors, train_target_vectors
from shardvec.logs import stage_logger

log = stage_logger(__name__, "finetune")

DESCRIPTIONS = {
    "random": "random vectors, no pretraining (frozen)",
    "target": "Word2Vec on the target training texts alone (frozen)",
    "pretrained": "pretrained vectors (frozen)",
    "adapted": "pretrained + adapt on the target texts (frozen)",
    "finetuned": "pretrained + supervised fine-tuning of the vectors",
    "adapted+finetuned": "pretrained + adapt + supervised fine-tuning of the vectors",
}
BIGRAMS = "+bigrams"  # the name's suffix of a setting's run with word bigrams in its lexical part


def vectors_of(setting: str) -> str:
    """The vector setting that a report's setting reads (``pretrained+bigrams``: ``pretrained``)."""
    return setting.removesuffix(BIGRAMS)


@dataclass(frozen=True)
class VectorSet:
    name: str
    kv: Any  # gensim KeyedVectors
    update: bool  # the classifier back-propagates into these vectors


def random_vectors(words: list[str], dim: int, seed: int):
    """Unit-scale Gaussian vectors (scale is irrelevant: features are standardised)."""
    from gensim.models import KeyedVectors

    kv = KeyedVectors(dim)
    if words:
        rng = np.random.default_rng(seed)
        kv.add_vectors(words, (rng.standard_normal((len(words), dim)) / np.sqrt(dim)).astype(np.float32))
    return kv


def build_vector_sets(names: list[str], pretrained: Pretrained, texts: list[list[str]], settings: AdaptSettings,
                      need_adapted: bool = False) -> tuple[dict[str, VectorSet], tuple[Any, dict[str, Any]] | None]:
    """The requested settings, in the order given, and the adapted vectors with their report.

    Adapting runs at most once, when a setting needs it or ``need_adapted``
    (mode ``adapt`` writes the adapted vectors whatever is compared).
    """
    adapted: tuple[Any, dict[str, Any]] | None = None

    def adapted_kv():
        nonlocal adapted
        if adapted is None:
            adapted = adapt(pretrained, texts, settings)
        return adapted[0]

    sets: dict[str, VectorSet] = {}
    for name in names:
        if name == "random":
            words = list(dict.fromkeys(t for s in texts for t in s))
            sets[name] = VectorSet(name, random_vectors(words, pretrained.kv.vector_size, settings.seed), False)
        elif name == "target":
            log.info(f"training target-only Word2Vec on {len(texts)} texts")
            sets[name] = VectorSet(name, train_target_vectors(texts, pretrained.params(settings.seed), settings), False)
        elif name in ("pretrained", "finetuned"):
            sets[name] = VectorSet(name, pretrained.kv, name == "finetuned")
        elif name in ("adapted", "adapted+finetuned"):
            sets[name] = VectorSet(name, adapted_kv(), name == "adapted+finetuned")
    if need_adapted:
        adapted_kv()
    return sets, adapted


def adapt(pretrained: Pretrained, texts: list[list[str]], settings: AdaptSettings):
    log.info(f"adapting the pretrained model on {len(texts)} texts ({settings.epochs} epochs)")
    kv, report = adapt_vectors(pretrained, texts, settings)
    log.info(f"adapted: {report['words_added']} words added, output weights {report['output_weights']}")
    return kv, report

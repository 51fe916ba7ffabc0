"""Builders for the fine-tune tests: small pretrained vectors and generated datasets.

Nothing here needs Spark, Dask or a network: pretrained vectors are a small
gensim Word2Vec, written the way ``shardvec train`` writes its output.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from shardvec.config import Config
from shardvec.corpus import Vocab
from shardvec.finetune.datasets import ReadOptions, text_tokens
from shardvec.train.weights import ModelWeights
from shardvec.train.model_io import save_model
from shardvec.train.params import Word2VecParams

TOPICS = {
    "sports": "match team goal coach season player league score win stadium",
    "music": "song album guitar band concert singer melody chorus record tour",
    "food": "recipe flavor kitchen chef bake spice dinner oven taste salad",
}
FILLER = "the a of and to in it is was very really quite this that".split()
PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank"]
PLACES = ["paris", "london", "berlin", "madrid"]


def topic_docs(n_per_class: int, seed: int = 0, words_per_doc: int = 8) -> list[tuple[str, str]]:
    """(label, text) pairs of a clearly separable task: each class has its own keywords."""
    rng = np.random.default_rng(seed)
    docs = []
    for label, keywords in TOPICS.items():
        words = keywords.split()
        for _ in range(n_per_class):
            picked = list(rng.choice(words, size=3)) + list(rng.choice(FILLER, size=words_per_doc - 3))
            rng.shuffle(picked)
            docs.append((label, " ".join(picked)))
    order = rng.permutation(len(docs))
    return [docs[i] for i in order]


def topic_sentences(n: int, seed: int = 1) -> list[list[str]]:
    """Unlabelled text in which each topic's keywords co-occur (a pretraining corpus)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = list(TOPICS.values())[rng.integers(len(TOPICS))].split()
        out.append(list(rng.choice(words, size=6)) + list(rng.choice(FILLER, size=4)))
    return out


def write_fasttext(path: Path, docs: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"__label__{label} {text}\n" for label, text in docs), encoding="utf-8")
    return path


def conll_sentences(n: int, seed: int = 2) -> list[list[tuple[str, str]]]:
    """Sentences with PER (one or two names) and LOC entities in BIO tags."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        sentence = [(w, "O") for w in rng.choice(FILLER, size=2)]
        sentence.append((str(rng.choice(PEOPLE)), "B-PER"))
        if rng.random() < 0.5:
            sentence.append((str(rng.choice(PEOPLE)), "I-PER"))
        sentence += [("went", "O"), ("to", "O"), (str(rng.choice(PLACES)), "B-LOC")]
        sentence += [(w, "O") for w in rng.choice(FILLER, size=2)]
        out.append(sentence)
    return out


def write_conll(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    blocks = ["\n".join(f"{w} NN {t}" for w, t in s) for s in sentences]
    path.write_text("-DOCSTART- O\n\n" + "\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def train_word2vec(sentences: list[list[str]], vector_size: int = 24, epochs: int = 5, seed: int = 1):
    from gensim.models import Word2Vec

    return Word2Vec(sentences, vector_size=vector_size, window=3, min_count=1, negative=5, sg=1,
                    epochs=epochs, seed=seed, workers=1)


def lee_sentences() -> list[list[str]]:
    from gensim.test.utils import datapath

    with open(datapath("lee_background.cor"), encoding="utf-8") as fh:
        return [text_tokens(line, ReadOptions()) for line in fh if line.strip()]


def write_vectors_file(model, path: Path) -> Path:
    model.wv.save_word2vec_format(str(path), binary=True)
    return path


def write_train_dir(model, directory: Path) -> Path:
    """A directory shaped like ``shardvec train`` output: model/, vectors.bin, train_report.json, _SUCCESS."""
    directory.mkdir(parents=True)
    wv = model.wv
    vocab = Vocab(list(wv.index_to_key), np.array([wv.get_vecattr(w, "count") for w in wv.index_to_key]))
    params = Word2VecParams(vector_size=model.vector_size, window=model.window, negative=model.negative,
                            hs=model.hs, sg=model.sg, sample=model.sample, epochs=model.epochs, seed=1, workers=1)
    save_model(directory / "model", ModelWeights(wv.vectors.copy(), model.syn1neg.copy()), vocab,
               {"params": params.to_dict()})
    write_vectors_file(model, directory / "vectors.bin")
    (directory / "train_report.json").write_text(json.dumps({"schema": "shardvec.train/1"}))
    (directory / "_SUCCESS").write_text("")
    return directory


def quick_config(output: Path, vectors: Path, **finetune) -> Config:
    """A config with small, fast defaults for tests; ``finetune`` overrides keys."""
    config = Config()
    settings = {"vectors": str(vectors), "output": str(output), "epochs": 20, "repeats": 1,
                "budgets": [0.25, 1.0], "intrinsic_vocab": 500, "cv_folds": 3, **finetune}
    for key, value in settings.items():
        setattr(config.finetune, key, value)
    return config

"""Each part of the fine-tune model on generated data whose right answer is known."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from finetune_helpers import FILLER, TOPICS, topic_sentences, train_word2vec
from shardvec.finetune.baseline import BaselineOptions, fit_baseline
from shardvec.finetune.classifier import Architecture, TrainOptions, fit
from shardvec.finetune.datasets import Dataset
from shardvec.finetune.features import BagEncoder, SparseRows, TermWeights, WordTable
from shardvec.finetune.lexical import lexical_matrix, ngram_terms, shape, token_terms
from shardvec.finetune.splits import Split, split_indices
from shardvec.finetune.tagger import unknown_kind
from shardvec.finetune.task import ModelOptions, build_task
from shardvec.finetune.vectorsets import random_vectors

OPTIONS = TrainOptions(epochs=30, learning_rate=0.5, l2=1e-4, patience=5, batch_size=16, class_weight="none",
                       select_on="score", lexical_l2=1e-4)


def _model(**changes) -> ModelOptions:
    return ModelOptions(**{"weighting": "mean", "buckets": 0, "window": 2, "lexical": False, "ngrams": 2,
                           "hidden": 0, **changes})


def _fit(task, kv, model: ModelOptions, update: bool = False, options: TrainOptions = OPTIONS):
    words = WordTable(kv, task.data.tokens)
    encoder = task.encoder(words, update, model, task.term_weights(model)).fresh()
    lexical = SparseRows(task.lexical(model)) if model.lexical else None
    network = fit(encoder, Architecture(model.hidden, lexical), task.targets, task.examples(task.split.train),
                  task.examples(task.split.dev), options, task.multilabel, 0,
                  lambda p: task.score(task.split.dev, p)[task.metric])
    return network, task.score(task.split.test, network.predict(task.examples(task.split.test)))


def _task(docs: list[list[str]], labels: list[str], split: Split | None = None):
    data = Dataset("classify", docs, [(label,) for label in labels], "mem", "fasttext")
    return build_task(data, split or split_indices(len(data), data.strata, 0.2, 0.3, seed=0))


# ---------------------------------------------------------------- lexical part: word pairs

def _order_task(n: int = 300, seed: int = 0):
    """Every document holds red, blue, car and bike once; only which colour goes with which vehicle, a
    bigram, tells the class."""
    rng = np.random.default_rng(seed)
    docs, labels = [], []
    for i in range(n):
        label = "match" if i % 2 else "swap"
        pairs = [["red", "car"], ["blue", "bike"]] if label == "match" else [["red", "bike"], ["blue", "car"]]
        words = [str(w) for w in rng.choice(FILLER, size=6)]
        docs.append(words[:2] + pairs[0] + words[2:4] + pairs[1] + words[4:])
        labels.append(label)
    return _task(docs, labels)


def test_only_bigrams_solve_word_order():
    task = _order_task()
    kv = random_vectors(sorted({t for d in task.data.tokens for t in d}), 16, seed=0)
    _, dense = _fit(task, kv, _model())
    _, unigrams = _fit(task, kv, _model(lexical=True, ngrams=1))
    _, bigrams = _fit(task, kv, _model(lexical=True, ngrams=2))
    assert dense["accuracy"] < 0.7 and unigrams["accuracy"] < 0.7  # the same bag of words in both classes
    assert bigrams["accuracy"] > 0.95


def test_lexical_terms_and_matrix():
    assert ngram_terms(["a", "b", "c"], 2) == ["a", "b", "c", "a b", "b c"]
    assert ngram_terms(["a", "b", "c"], 3)[-1] == "a b c"
    assert (shape("Paris"), shape("1,984.5"), shape("e-mail"), shape("USA"), shape(",")) == \
        ("Xx", "d,d.d", "x-x", "X", ",")
    terms = token_terms(["the", "apple"], ["The", "Apple"], window=1)
    assert "s=Xx" in terms[1] and "w-1=the" in terms[1] and "w1=<edge>" in terms[1] and "x3=ple" in terms[1]
    docs = [["a", "b"], ["a", "c"], ["z", "z"]]
    matrix = lexical_matrix([ngram_terms(d, 1) for d in docs], np.array([0, 1]), tfidf=True)
    assert matrix.shape == (3, 3)  # a, b, c: z is not in the training rows
    assert np.allclose(np.linalg.norm(matrix[:2].toarray(), axis=1), 1.0) and matrix[2].nnz == 0
    row = matrix[0].toarray().ravel()
    assert row[1] > row[0] > 0  # b is rarer than a in training, so it weighs more


# ---------------------------------------------------------------- dense part: synonyms only pretraining knows

def test_only_pretrained_vectors_know_the_test_words():
    """Training and dev documents use half of each topic's words, test documents only the other half:
    only vectors pretrained on text where both halves co-occur can carry the labels over."""
    rng = np.random.default_rng(3)
    docs, labels, part = [], [], []
    for label, keywords in TOPICS.items():
        words = keywords.split()
        for i in range(90):
            seen = words[:5] if i < 60 else words[5:]
            doc = [str(w) for w in rng.choice(seen, size=3)] + [str(w) for w in rng.choice(FILLER, size=5)]
            docs.append(doc)
            labels.append(label)
            part.append("train" if i < 45 else "dev" if i < 60 else "test")
    index = {name: np.array([i for i, p in enumerate(part) if p == name]) for name in ("train", "dev", "test")}
    task = _task(docs, labels, Split(**index))
    pretrained = train_word2vec(topic_sentences(2000), vector_size=24).wv
    random = random_vectors(sorted({t for d in docs for t in d}), 24, seed=0)
    _, no_pretraining = _fit(task, random, _model(lexical=True))
    _, frozen = _fit(task, pretrained, _model())
    _, joint = _fit(task, pretrained, _model(lexical=True))
    _, tuned = _fit(task, pretrained, _model(lexical=True), update=True)
    baseline = fit_baseline(task.lexical(_model()), task.targets, task.split.train, task.split.dev,
                            BaselineOptions(1.0, "none"), False, lambda p: 0.0)
    lr = task.score(task.split.test, baseline.predict(task.split.test))
    assert no_pretraining["macro_f1"] < 0.5 and lr["macro_f1"] < 0.5  # chance is 1/3
    assert frozen["macro_f1"] > 0.9 and joint["macro_f1"] > 0.9 and tuned["macro_f1"] > 0.9


# ---------------------------------------------------------------- hidden layer

def test_a_hidden_layer_learns_what_a_linear_model_cannot():
    """Class = exactly one of the words a and b (XOR): no linear function of the words' counts separates it."""
    rng = np.random.default_rng(0)
    docs, labels = [], []
    for _ in range(600):
        has_a, has_b = rng.random() < 0.5, rng.random() < 0.5
        docs.append(["a" if has_a else "f", "b" if has_b else "f", "f", "f"])
        labels.append("one" if has_a != has_b else "both_or_none")
    task = _task(docs, labels)
    kv = random_vectors(["a", "b", "f"], 8, seed=1)
    _, linear = _fit(task, kv, _model(lexical=True, ngrams=1))
    _, hidden = _fit(task, kv, _model(hidden=16))
    assert linear["accuracy"] < 0.8
    assert hidden["accuracy"] > 0.95


# ---------------------------------------------------------------- weighted averaging

def test_term_weights_follow_their_formulas():
    docs = [["the", "cat"], ["the", "dog"], ["the", "the", "cat"]]
    tfidf = TermWeights(docs, "tfidf", bigrams=False)
    assert tfidf("the") == pytest.approx(1.0)  # in every document: log(4 / 4) + 1
    assert tfidf("dog") == pytest.approx(1 + np.log(4 / 2))
    assert tfidf("unseen") == pytest.approx(1 + np.log(4))
    sif = TermWeights(docs, "sif", bigrams=True)
    assert sif("the") == pytest.approx(1e-3 / (1e-3 + 4 / 11))  # 7 words and 4 bigrams
    assert sif("the cat") == pytest.approx(1e-3 / (1e-3 + 2 / 11))
    assert TermWeights(docs, "mean", bigrams=False)("the") == 1.0
    words = WordTable(random_vectors(["the", "cat", "dog"], 4, seed=0), docs)
    row = BagEncoder(words, [["the", "dog"]], False, weights=tfidf).matrix.toarray()[0]
    dog = 1 + np.log(2)
    assert row[words.row["the"]] == pytest.approx(1 / (1 + dog)) and row[words.row["dog"]] == pytest.approx(dog / (1 + dog))


def test_weighting_lets_rare_topic_words_outweigh_common_filler():
    """Each document has one topic word among 30 filler words drawn from five: in a plain mean the topic
    word is a 31st of the features and the filler's random counts drown it; weighted by IDF or SIF (the
    filler is in every document and makes most of the text) it stands out."""
    rng = np.random.default_rng(2)
    topic_words = {"x": [f"x{i}" for i in range(10)], "y": [f"y{i}" for i in range(10)]}
    fill = ["f0", "f1", "f2", "f3", "f4"]
    docs, labels = [], []
    for i in range(400):
        label = "x" if i % 2 else "y"
        docs.append([str(rng.choice(topic_words[label]))] + [str(w) for w in rng.choice(fill, size=30)])
        labels.append(label)
    task = _task(docs, labels)
    kv = random_vectors(sorted({t for d in docs for t in d}), 16, seed=4)
    scores = {w: _fit(task, kv, _model(weighting=w))[1]["accuracy"] for w in ("mean", "tfidf", "sif")}
    assert scores["mean"] < 0.75 and scores["tfidf"] > scores["mean"] + 0.1 and scores["sif"] > scores["mean"] + 0.1


# ---------------------------------------------------------------- tagging: unknown words and shapes

def _tag_task(sentences: list[list[tuple[str, str, str]]]):
    """(token as read, token as written, tag) sentences."""
    data = Dataset("tag", [[t for t, _, _ in s] for s in sentences], [tuple(g for _, _, g in s) for s in sentences],
                   "mem", "conll", raw=[[w for _, w, _ in s] for s in sentences])
    return build_task(data, split_indices(len(data), None, 0.2, 0.3, seed=0))


def test_unknown_words_read_a_row_of_their_kind():
    assert (unknown_kind(",", ","), unknown_kind("1984", "1984"), unknown_kind("zork", "Zork")) == \
        ("<,>", "<num>", "<Xx>")
    rng = np.random.default_rng(0)
    words = ["cat", "dog", "runs", "sleeps"]
    marks = [(",", "COMMA"), (".", "STOP"), ("1984", "NUM"), ("42", "NUM")]
    sentences = []
    for _ in range(200):
        sentence = [(w, w, "WORD") for w in rng.choice(words, size=3)]
        sentence.insert(int(rng.integers(1, 3)), marks[int(rng.integers(len(marks)))])
        sentences.append([(t[0], t[0], t[-1]) for t in sentence])
    task = _tag_task(sentences)
    kv = random_vectors(words, 8, seed=0)  # no vector for any mark or number
    network, metrics = _fit(task, kv, _model(window=0))
    assert metrics["accuracy"] == 1.0  # with window 0 a token sees only itself: its kind row must tell
    assert sorted(network.encoder.kinds) == ["<,>", "<.>", "<num>"]
    assert np.array_equal(network.encoder.table[:len(words)], WordTable(kv, task.data.tokens).vectors)


def test_shapes_tell_what_lowercased_vectors_cannot():
    """``apple`` is a company when written Apple and a fruit otherwise; the vectors only see ``apple``."""
    rng = np.random.default_rng(1)
    sentences = []
    for _ in range(300):
        company = rng.random() < 0.5
        sentence = [(w, w, "O") for w in rng.choice(FILLER, size=3)]
        sentence.insert(1, ("apple", "Apple" if company else "apple", "ORG" if company else "FRUIT"))
        sentences.append(sentence)
    task = _tag_task(sentences)
    kv = random_vectors(sorted({w for s in task.data.tokens for w in s}), 8, seed=0)
    _, vectors_only = _fit(task, kv, _model(window=1))
    _, with_shapes = _fit(task, kv, _model(window=1, lexical=True))
    assert vectors_only["accuracy"] < 0.95  # a quarter of the tokens are a coin flip
    assert with_shapes["accuracy"] == 1.0


# ---------------------------------------------------------------- the baseline

def test_baseline_learns_topics_and_handles_a_class_missing_from_training():
    from finetune_helpers import topic_docs

    docs = topic_docs(40)
    task = _task([t.split() for _, t in docs], [label for label, _ in docs])
    lexical = task.lexical(_model())
    fitted = fit_baseline(lexical, task.targets, task.split.train, task.split.dev, BaselineOptions(10.0, "sqrt"),
                          False, lambda p: task.score(task.split.dev, p)["macro_f1"])
    assert (fitted.best_epoch, len(fitted.dev_scores)) == (1, 1) and fitted.dev_scores[0] > 0.9
    assert task.score(task.split.test, fitted.predict(task.split.test))["macro_f1"] > 0.9
    two = task.split.train[task.targets[task.split.train, 0] == 0]  # train without the first class
    partial = fit_baseline(lexical, task.targets, two, task.split.dev, BaselineOptions(1.0, "none"), False,
                           lambda p: 0.0)
    p = partial.predict_proba(task.split.test)
    assert p.shape == (len(task.split.test), 3) and not p[:, 0].any() and np.allclose(p.sum(axis=1), 1)


def test_the_baseline_reads_its_own_ngrams_beside_the_models():
    """The model's bigrams (lexical_ngrams) leave the classical anchor on its own order (baseline_ngrams)."""
    task = _order_task()
    model = _model(lexical=True, ngrams=2)
    lexical = task.lexical(model)

    def baseline_accuracy(features) -> float:
        fitted = fit_baseline(features, task.targets, task.split.train, task.split.dev, BaselineOptions(10.0, "none"),
                              False, lambda p: task.score(task.split.dev, p)["accuracy"])
        return task.score(task.split.test, fitted.predict(task.split.test))["accuracy"]

    words = task.baseline_features(model, lexical)  # baseline_ngrams = 1 by default
    assert words.shape[1] == len({t for u in task.split.train for t in task.data.tokens[u]}) < lexical.shape[1]
    assert baseline_accuracy(words) < 0.7  # the same bag of words in both classes
    assert task.baseline_features(replace(model, baseline_ngrams=2), lexical) is lexical
    assert baseline_accuracy(lexical) > 0.95
    assert task.baseline_features(replace(model, lexical=False), None).shape == words.shape


def test_sparse_row_products_match_scipy():
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    dense = sp.random(300, 50, density=0.1, random_state=1, dtype=np.float32).toarray()
    dense[7] = 0  # an empty row
    matrix = sp.csr_matrix(dense)
    rows = SparseRows(matrix)
    table = rng.standard_normal((50, 4)).astype(np.float32)
    for items in (np.array([3, 7, 3, 250]), np.arange(300)):  # the numpy path (repeats allowed) and scipy's
        assert np.allclose(rows.dot(items, table), matrix[items] @ table, atol=1e-5)
    batch = rows.batch(np.array([3, 7, 250]))
    grad = rng.standard_normal((3, 4)).astype(np.float32)
    cols, sums = batch.transpose_dot(grad)
    full = (matrix[[3, 7, 250]].T @ grad)
    assert np.array_equal(cols, np.unique(matrix[[3, 7, 250]].indices))
    assert np.allclose(sums, full[cols], atol=1e-5) and not np.delete(full, cols, axis=0).any()

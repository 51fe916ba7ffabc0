"""The numpy models, metrics and splits, on data whose right answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from finetune_helpers import conll_sentences, topic_docs, topic_sentences, train_word2vec
from shardvec.finetune.classifier import Architecture, ClassWeights, TrainOptions, fit
from shardvec.finetune.datasets import Dataset
from shardvec.finetune.experiment import CurveOptions, VectorLearner, plan_budgets, run_setting, search
from shardvec.finetune.features import BagEncoder, SparseRows, WordTable, bigram_bucket
from shardvec.finetune.metrics import class_metrics, entities, entity_metrics, is_bio
from shardvec.finetune.selection import Selection
from shardvec.finetune.splits import split_indices
from shardvec.finetune.task import ModelOptions, Task, build_task
from shardvec.finetune.vectorsets import VectorSet, random_vectors

OPTIONS = TrainOptions(epochs=30, learning_rate=0.5, l2=1e-4, patience=3, batch_size=16, class_weight="none",
                       select_on="score")
MODEL = ModelOptions(weighting="mean", buckets=0, window=2, lexical=False, ngrams=2, hidden=0)
ON_DEV = Selection("dev", folds=5, dev_below=200, budget_upto=0.05)


@pytest.fixture(scope="module")
def topic_task():
    docs = topic_docs(60)
    data = Dataset("classify", [text.split() for _, text in docs], [(label,) for label, _ in docs], "mem", "fasttext")
    return build_task(data, split_indices(len(data), data.strata, 0.15, 0.25, seed=0))


@pytest.fixture(scope="module")
def topic_vectors():
    return train_word2vec(topic_sentences(1500), vector_size=24).wv


def _train_and_score(task, kv, update=False, model=MODEL, options=OPTIONS, **changes):
    model = ModelOptions(**{**model.__dict__, **changes})
    words = WordTable(kv, task.data.tokens)
    encoder = task.encoder(words, update, model, task.term_weights(model)).fresh()
    lexical = SparseRows(task.lexical(model)) if model.lexical else None
    network = fit(encoder, Architecture(model.hidden, lexical), task.targets, task.examples(task.split.train),
                  task.examples(task.split.dev), options, task.multilabel, seed=0,
                  score=lambda predicted: task.score(task.split.dev, predicted)[task.metric])
    test = task.examples(task.split.test)
    return words, encoder, network, task.score(task.split.test, network.predict(test))


def test_separable_topics_reach_high_f1(topic_task, topic_vectors):
    _, _, model, metrics = _train_and_score(topic_task, topic_vectors)
    assert metrics["macro_f1"] > 0.9
    assert metrics["accuracy"] > 0.9
    assert 1 <= model.best_epoch <= model.epochs_run <= OPTIONS.epochs
    assert sum(sum(row) for row in metrics["confusion"]["matrix"]) == len(topic_task.split.test)


@pytest.mark.parametrize("buckets,lexical,hidden", [(0, False, 0), (64, False, 0), (0, True, 8)])
def test_frozen_vectors_stay_bitwise_unchanged(topic_task, topic_vectors, buckets, lexical, hidden):
    before = topic_vectors.vectors.copy()
    words, encoder, _, metrics = _train_and_score(topic_task, topic_vectors, update=False, buckets=buckets,
                                                  lexical=lexical, hidden=hidden)
    n = len(words.words)
    assert np.array_equal(encoder.table[:n], words.vectors)
    assert np.array_equal(words.vectors, before[[topic_vectors.key_to_index[w] for w in words.words]])
    assert np.array_equal(topic_vectors.vectors, before)
    if buckets:  # bigram rows are the classifier's own parameters and do learn
        assert np.abs(encoder.table[n:]).sum() > 0
    assert metrics["macro_f1"] > 0.9


def test_update_vectors_trains_a_private_copy(topic_task, topic_vectors):
    before = topic_vectors.vectors.copy()
    words, encoder, _, metrics = _train_and_score(topic_task, topic_vectors, update=True)
    changed = ~np.all(encoder.table == words.vectors, axis=1)
    train_words = {t for u in topic_task.split.train for t in topic_task.data.tokens[u]}
    assert changed.any()
    assert all(words.words[i] in train_words for i in np.flatnonzero(changed))  # only rows seen in training move
    assert np.array_equal(topic_vectors.vectors, before)
    assert metrics["macro_f1"] > 0.9


def test_random_vectors_learn_word_identity(topic_task):
    words = sorted({t for doc in topic_task.data.tokens for t in doc})
    _, _, _, metrics = _train_and_score(topic_task, random_vectors(words, 64, seed=0))
    assert metrics["macro_f1"] > 0.9


def _imbalanced_task(seed: int = 0):
    """Two classes, 10:1, sharing their cue words: ``big`` documents say ``b`` 15% of the time, ``small``
    ones 90%. Unweighted, the prior wins and ``b`` still means ``big`` (150 vs 90 ``b`` documents per
    1,100); with balanced weights ``b`` means ``small`` (0.9 vs 0.15), for a macro-F1 near 0.7 instead
    of 0.48."""
    rng = np.random.default_rng(seed)
    docs, labels = [], []
    for label, n, p_b in (("big", 1000, 0.15), ("small", 100, 0.9)):
        for _ in range(n):
            docs.append(["b" if rng.random() < p_b else "a", *rng.choice(["x", "y", "z"], size=3)])
            labels.append((label,))
    data = Dataset("classify", docs, labels, "mem", "fasttext")
    return build_task(data, split_indices(len(data), data.strata, 0.2, 0.3, seed=seed))


def test_balanced_weights_raise_minority_recall():
    task = _imbalanced_task()
    kv = random_vectors(["a", "b", "x", "y", "z"], 8, seed=0)
    recall, macro_f1 = {}, {}
    for weights in ("none", "balanced"):
        # Epochs chosen on dev loss: choosing them on dev macro-F1 already favours the small class a little.
        options = TrainOptions(**{**OPTIONS.__dict__, "class_weight": weights, "select_on": "loss"})
        *_, metrics = _train_and_score(task, kv, options=options)
        recall[weights], macro_f1[weights] = metrics["per_class"]["small"]["recall"], metrics["macro_f1"]
    assert recall["none"] < 0.1 and recall["balanced"] > 0.75
    assert macro_f1["none"] < 0.5 < 0.65 < macro_f1["balanced"]


def test_class_weights_numbers():
    single = np.eye(2)[[0, 0, 0, 0, 0, 0, 1, 1]]
    weights = ClassWeights.of("balanced", single, multilabel=False)
    assert weights.present.tolist() == pytest.approx([8 / 12, 8 / 4])
    assert weights(single).ravel().tolist() == pytest.approx([2 / 3] * 6 + [2.0] * 2)
    assert weights(single).mean() == pytest.approx(1.0)  # the same mean step as unweighted
    multi = np.array([[1, 0], [1, 1], [1, 0], [1, 0]], dtype=float)
    weights = ClassWeights.of("balanced", multi, multilabel=True)
    np.testing.assert_allclose(weights(multi), [[0.5, 4 / 6], [0.5, 2.0], [0.5, 4 / 6], [0.5, 4 / 6]])
    assert ClassWeights.of("none", multi, multilabel=True)(multi).tolist() == np.ones((4, 2)).tolist()


def test_sqrt_class_weights_stop_halfway():
    single = np.eye(2)[[0, 0, 0, 0, 0, 0, 1, 1]]
    weights = ClassWeights.of("sqrt", single, multilabel=False)
    assert weights.present[1] / weights.present[0] == pytest.approx(np.sqrt(6 / 2))  # balanced: 6 / 2
    assert weights(single).mean() == pytest.approx(1.0)
    multi = np.array([[1, 0], [1, 1], [1, 0], [1, 0]], dtype=float)
    weights = ClassWeights.of("sqrt", multi, multilabel=True)
    assert weights.present[1] / weights.absent[1] == pytest.approx(np.sqrt(3))
    assert weights(multi)[:, 1].mean() == pytest.approx(1.0)  # label 1: present once, absent three times


@pytest.mark.parametrize("select_on", ["score", "loss"])
def test_early_stopping_keeps_the_best_dev_epoch(select_on):
    options = TrainOptions(**{**OPTIONS.__dict__, "class_weight": "balanced", "select_on": select_on})
    task = _imbalanced_task(seed=1)
    _, _, model, _ = _train_and_score(task, random_vectors(["a", "b", "x", "y", "z"], 8, seed=0), options=options)
    best = model.best_epoch - 1
    if select_on == "score":
        assert model.dev_scores[best] == max(model.dev_scores)
        assert model.dev_losses[best] == min(l for s, l in zip(model.dev_scores, model.dev_losses)
                                             if s == model.dev_scores[best])
    else:
        assert model.dev_losses[best] == min(model.dev_losses)
    assert model.epochs_run == options.epochs or model.epochs_run - model.best_epoch == options.patience
    assert len(model.dev_scores) == len(model.dev_losses) == model.epochs_run


def _curve_options(rates: list[float], budgets: list[float]) -> CurveOptions:
    return CurveOptions(budgets, repeats=2, seed=0, min_per_class=2, model=MODEL, selection=ON_DEV, baseline=[],
                        candidates=[TrainOptions(**{**OPTIONS.__dict__, "learning_rate": lr}) for lr in rates])


def _spy_on_scored_splits(monkeypatch, task) -> list[str]:
    """Record which split every ``Task.score`` call scores (a half of dev, cross-fitting's, counts as dev)."""
    calls = []
    original = Task.score

    def spy(self, units, predicted):
        calls.append(next(name for name in ("train", "dev", "test") if units is getattr(task.split, name)
                          or name == "dev" and set(units.tolist()) < set(task.split.dev.tolist())))
        return original(self, units, predicted)

    monkeypatch.setattr(Task, "score", spy)
    return calls


def test_learning_rate_search_keeps_the_dev_best_and_never_scores_test(topic_task, topic_vectors, monkeypatch):
    # Both rates find the separable topics (the argmax needs only the gradient's direction), so the
    # dev loss decides: 1e-6 leaves the probabilities near uniform.
    options = _curve_options([1e-6, 0.5], [1.0])
    encoder = topic_task.encoder(WordTable(topic_vectors, topic_task.data.tokens), False, MODEL, None)
    learner = VectorLearner(topic_task, encoder, Architecture(0, None), options.candidates)
    plan, *_ = plan_budgets(topic_task, options)
    calls = _spy_on_scored_splits(monkeypatch, topic_task)
    choice = search(topic_task, learner, plan[1.0], 1.0, options)
    chosen, fitted, tried = choice.candidate, choice.fitted, choice.tried
    assert set(calls) == {"dev"} and choice.method == "dev"
    assert [t["learning_rate"] for t in tried] == [1e-6, 0.5]
    assert tried[0]["dev_score"] == tried[1]["dev_score"] and tried[1]["dev_loss"] < tried[0]["dev_loss"] - 0.5
    assert chosen.learning_rate == 0.5 and len(fitted) == 2
    assert tried[1]["dev_score"] == pytest.approx(np.mean([f.model.selection_score for f in fitted]), abs=1e-5)


def test_each_budget_records_its_choice_and_scores_test_once_per_run(topic_task, topic_vectors, monkeypatch):
    options = _curve_options([1e-6, 0.05, 0.5], [0.25, 1.0])
    plan, *_ = plan_budgets(topic_task, options)
    calls = _spy_on_scored_splits(monkeypatch, topic_task)
    summary, _, _, _ = run_setting(topic_task, VectorSet("pretrained", topic_vectors, False), plan, options,
                                   Architecture(0, None), None)
    assert calls.count("test") == len(plan) * options.repeats  # 3 candidates, yet each kept run scored once
    for entry in summary["curve"]:
        best = max(entry["search"], key=lambda t: (t["dev_score"], -t["dev_loss"]))
        assert entry["learning_rate"] == best["learning_rate"] != 1e-6
        assert entry["selection_score"] == pytest.approx(best["dev_score"], abs=1e-5)
    assert summary["learning_rate"] == summary["curve"][-1]["learning_rate"]


def test_multilabel_classifier():
    rng = np.random.default_rng(0)
    vocab = {"a": "alpha apple", "b": "beta banana"}
    docs, labels = [], []
    for _ in range(150):
        chosen = [k for k in "ab" if rng.random() < 0.6] or ["a"]
        words = [w for k in chosen for w in vocab[k].split()] + list(rng.choice(["x", "y", "z"], size=3))
        docs.append(words)
        labels.append(tuple(chosen))
    data = Dataset("classify", docs, labels, "mem", "jsonl")
    task = build_task(data, split_indices(len(data), data.strata, 0.2, 0.2, seed=1))
    assert task.multilabel
    words = sorted({t for d in docs for t in d})
    _, _, model, metrics = _train_and_score(task, random_vectors(words, 16, seed=0))
    assert model.multilabel
    assert metrics["micro_f1"] > 0.9
    assert "confusion" not in metrics  # undefined when an example has several labels


def test_window_tagger_finds_bio_entities():
    sentences = conll_sentences(250)
    data = Dataset("tag", [[w for w, _ in s] for s in sentences], [tuple(t for _, t in s) for s in sentences],
                   "mem", "conll")
    task = build_task(data, split_indices(len(data), None, 0.15, 0.25, seed=0))
    assert task.bio and task.metric == "micro_f1"
    words = sorted({t for s in data.tokens for t in s})
    _, encoder, _, metrics = _train_and_score(task, random_vectors(words, 16, seed=0), window=1)
    assert encoder.windows.shape == (sum(len(s) for s in data.tokens), 3)
    assert metrics["micro_f1"] > 0.9
    assert set(metrics["per_type"]) == {"LOC", "PER"}
    assert metrics["accuracy"] > 0.95


def test_plain_tags_are_scored_by_token_accuracy():
    rng = np.random.default_rng(0)
    lexicon = {"the": "DET", "a": "DET", "cat": "NOUN", "dog": "NOUN", "runs": "VERB", "sleeps": "VERB"}
    words = list(lexicon)
    sentences = [list(rng.choice(words, size=5)) for _ in range(120)]
    data = Dataset("tag", sentences, [tuple(lexicon[w] for w in s) for s in sentences], "mem", "conll")
    task = build_task(data, split_indices(len(data), None, 0.2, 0.2, seed=0))
    assert not task.bio and task.metric == "accuracy"
    _, _, _, metrics = _train_and_score(task, random_vectors(words, 8, seed=0))
    assert metrics["accuracy"] == 1.0 and "per_type" not in metrics
    assert metrics["examples"] == 5 * len(task.split.test)


def test_window_tagger_frozen_and_padding_row():
    sentences = conll_sentences(80)
    data = Dataset("tag", [[w for w, _ in s] for s in sentences], [tuple(t for _, t in s) for s in sentences],
                   "mem", "conll")
    task = build_task(data, split_indices(len(data), None, 0.2, 0.2, seed=0))
    kv = random_vectors(sorted({t for s in data.tokens for t in s}), 8, seed=1)
    for update in (False, True):
        words, encoder, _, _ = _train_and_score(task, kv, update=update)
        assert np.array_equal(encoder.table[:len(words.words)], words.vectors) != update
        assert not encoder.table[-1].any()  # the padding row never learns


def test_bag_encoder_means_and_buckets():
    kv = random_vectors(["a", "b"], 4, seed=0)
    words = WordTable(kv, [["a", "b", "zzz"]])
    assert words.coverage([["a", "b", "zzz"]]) == pytest.approx(2 / 3, abs=1e-4)
    encoder = BagEncoder(words, [["a", "b", "zzz"], ["zzz"]], update_vectors=False, buckets=8)
    row = encoder.matrix.toarray()
    assert row[0, :2].tolist() == [0.25, 0.25] and row[0].sum() == pytest.approx(1.0)
    assert bigram_bucket("a", "b", 8) != bigram_bucket("b", "zzz", 8)
    # 2 words + the 2 buckets used, not all 8
    assert row[0, 2:].tolist() == [0.25, 0.25] and row[1].sum() == 0 and encoder.table.shape == (4, 4)
    assert bigram_bucket("a", "b", 1000) == bigram_bucket("a", "b", 1000) != bigram_bucket("b", "a", 1000)


def test_class_metrics_numbers():
    labels = ["a", "b", "c"]
    truth = np.eye(3)[[0, 0, 1, 1, 2, 2]]
    pred = np.eye(3)[[0, 1, 1, 1, 2, 0]]
    m = class_metrics(truth, pred, labels)
    assert m["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert m["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["per_class"]["b"]["recall"] == 1.0
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3, abs=1e-4)
    assert m["micro_f1"] == pytest.approx(4 / 6, abs=1e-4)
    assert m["confusion"]["matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_bio_entities_and_entity_scores():
    assert is_bio({"O", "B-PER", "I-PER"}) and not is_bio({"NN", "VB"}) and not is_bio({"O"})
    assert entities(["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-PER", "B-PER", "B-PER"]) == {
        ("PER", 0, 2), ("LOC", 3, 5), ("PER", 5, 6), ("PER", 6, 7), ("PER", 7, 8)}
    assert entities(["I-LOC", "I-LOC"]) == {("LOC", 0, 2)}
    truth = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "O", "O", "B-LOC"]]
    m = entity_metrics(truth, pred)
    assert (m["entities"], m["predicted_entities"]) == (2, 2)
    assert m["micro_precision"] == 0.5 and m["micro_recall"] == 0.5
    assert m["per_type"]["LOC"]["f1"] == 1.0 and m["per_type"]["PER"]["f1"] == 0.0
    assert m["macro_f1"] == 0.5

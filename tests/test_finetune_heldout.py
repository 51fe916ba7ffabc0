"""Cross-fitted selection scores: each half of the held-out units at the epoch the other half chose."""

from __future__ import annotations

import numpy as np

from finetune_helpers import conll_sentences, topic_docs
from shardvec.finetune.classifier import Architecture, ClassWeights, TrainOptions, cross_entropy, fit
from shardvec.finetune.datasets import Dataset
from shardvec.finetune.features import WordTable
from shardvec.finetune.heldout import CrossFit, Halves
from shardvec.finetune.splits import split_indices
from shardvec.finetune.task import ModelOptions, build_task
from shardvec.finetune.vectorsets import random_vectors

MODEL = ModelOptions(weighting="mean", buckets=0, window=1, lexical=False, ngrams=1, hidden=0)


def test_halves_split_the_held_out_units_with_all_their_examples() -> None:
    sentences = conll_sentences(60)
    data = Dataset("tag", [[w for w, _ in s] for s in sentences], [tuple(t for _, t in s) for s in sentences],
                   "mem", "conll")
    task = build_task(data, split_indices(len(data), None, 0.3, 0.2, seed=0))
    units = task.split.dev
    halves = Halves.of(task, units, seed=3)
    first, second = halves.masks
    assert np.array_equal(first, ~second) and 0 < first.sum() < len(first)
    rows = task.examples(units)
    assert len(first) == len(rows)
    owner = np.repeat(np.arange(len(units)), [len(data.tokens[u]) for u in units])
    for mask in halves.masks:  # a unit's examples all fall in one half
        assert all(len(set(mask[owner == i])) == 1 for i in range(len(units)))
    predicted = task.targets[rows].astype(bool)
    predicted[::3] = np.roll(predicted[::3], 1, axis=1)  # some wrong, so that the halves score differently
    for mask, scorer in zip(halves.masks, halves.scorers):
        kept = np.array([mask[owner == i][0] for i in range(len(units))])
        assert scorer(predicted[mask]) == task.score(units[kept], predicted[mask])[task.metric]
    assert Halves.of(task, units[:1], seed=3) is None  # one unit: nothing to split


def test_each_half_takes_the_probabilities_of_the_epoch_best_on_the_other() -> None:
    first = np.array([True, True, False, False])
    halves = Halves((first, ~first), (lambda p: 0.0, lambda p: 0.0))
    scores = {1: (0.5, 0.9), 2: (0.8, 0.6), 3: (0.8, 0.1)}  # epoch -> (first half's, second half's)
    cross = CrossFit(halves)
    for epoch, (a, b) in scores.items():
        cross.observe(np.full((4, 2), float(epoch)), lambda mask, _, a=a, b=b: (a if mask[0] else b,))
    # The first half was best at epoch 2 (epoch 3 only ties), the second at epoch 1: each takes the other's.
    assert cross.probabilities[:, 0].tolist() == [1.0, 1.0, 2.0, 2.0]


def test_fit_selection_score_is_the_cross_fitted_probabilities_score() -> None:
    """Recomputed from fits stopped at every epoch: the same seed retraces the same steps."""
    docs = topic_docs(30)
    rng = np.random.default_rng(0)
    labels = [label if rng.random() < 0.6 else "noise" for label, _ in docs]  # noisy, so epochs disagree
    data = Dataset("classify", [t.split() for _, t in docs], [(label,) for label in labels], "mem", "fasttext")
    task = build_task(data, split_indices(len(data), data.strata, 0.3, 0.2, seed=0))
    kv = random_vectors(sorted({t for d in data.tokens for t in d}), 8, seed=0)
    encoder = task.encoder(WordTable(kv, task.data.tokens), False, MODEL, None)
    train, dev = task.examples(task.split.train), task.examples(task.split.dev)
    options = TrainOptions(epochs=8, learning_rate=0.5, l2=1e-4, patience=8, batch_size=8, class_weight="none",
                           select_on="score")

    def score(predicted: np.ndarray) -> float:
        return task.score(task.split.dev, predicted)[task.metric]

    def run(opts: TrainOptions, halves: Halves | None):
        return fit(encoder.fresh(), Architecture(0, None), task.targets, train, dev, opts, False, 5, score, halves)

    plain = run(options, None)
    assert plain.selection_score == plain.dev_scores[plain.best_epoch - 1]
    assert np.array_equal(plain.held_probabilities, plain.predict_proba(dev))

    halves = Halves.of(task, task.split.dev, seed=1)
    crossed = run(options, halves)
    assert crossed.dev_scores == plain.dev_scores and crossed.best_epoch == plain.best_epoch  # same kept model
    per_epoch = [run(options.fixed(e), None).held_probabilities for e in range(1, crossed.epochs_run + 1)]
    targets, unweighted = task.targets[dev], ClassWeights.of("none", task.targets[train], False)
    best = []
    for mask, scorer in zip(halves.masks, halves.scorers):
        keys = [(scorer(p[mask].argmax(axis=1)[:, None] == np.arange(p.shape[1])),
                 -cross_entropy(p[mask], targets[mask], unweighted, False)) for p in per_epoch]
        best.append(max(range(len(keys)), key=lambda e: (keys[e], -e)))  # ties: the earlier epoch
    expected = np.where(halves.masks[0][:, None], per_epoch[best[1]], per_epoch[best[0]])
    assert best[0] != best[1]  # the halves disagree here, so the test tells cross-fitting from the kept epoch
    np.testing.assert_allclose(crossed.held_probabilities, expected, rtol=1e-6)
    assert crossed.selection_score == round(score(expected.argmax(axis=1)[:, None] == np.arange(expected.shape[1])),
                                            5)

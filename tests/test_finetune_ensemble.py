"""The ensemble setting: a weighted mean of its members' probabilities, scored and chosen like a trained setting."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from finetune_helpers import topic_docs, topic_sentences, train_word2vec
from test_finetune_parts import _order_task
from shardvec.finetune.baseline import BaselineOptions
from shardvec.finetune.classifier import TrainOptions
from shardvec.finetune.datasets import Dataset
from shardvec.finetune.ensemble import Ensemble, Outputs, adjust, greedy_weights, mix
from shardvec.finetune.experiment import CurveOptions, compare
from shardvec.finetune.heldout import Halves
from shardvec.finetune.recommend import recommend
from shardvec.finetune.selection import Selection
from shardvec.finetune.splits import split_indices
from shardvec.finetune.task import ModelOptions, build_task
from shardvec.finetune.vectorsets import VectorSet
from shardvec.finetune.verdict import verdict

MODEL = ModelOptions(weighting="mean", buckets=0, window=2, lexical=True, ngrams=1, hidden=0)
OPTIONS = TrainOptions(epochs=20, learning_rate=0.5, l2=1e-4, patience=3, batch_size=16, class_weight="none",
                       select_on="score", lexical_l2=1e-5)


def topic_task(n_per_class: int, dev: float):
    docs = topic_docs(n_per_class)
    data = Dataset("classify", [t.split() for _, t in docs], [(label,) for label, _ in docs], "mem", "fasttext")
    return build_task(data, split_indices(len(data), data.strata, dev, 0.25, seed=0))


def half_right(task, units: np.ndarray, first_half: bool) -> np.ndarray:
    """Probabilities sure of the true class on one half of the examples and leaning, less surely, to a wrong
    one on the other half."""
    targets = task.targets[task.examples(units)].astype(np.float64)
    wrong = np.roll(targets, 1, axis=1)
    sure = 0.9 * targets + 0.1 * wrong
    unsure = 0.4 * targets + 0.6 * wrong
    half = np.arange(len(targets)) < len(targets) // 2
    pick = half if first_half else ~half
    return np.where(pick[:, None], sure, unsure)


def test_the_mean_is_right_where_each_member_is_half_wrong() -> None:
    task = topic_task(30, dev=0.2)
    ensemble = Ensemble()
    for name, first_half in (("a", True), ("b", False)):
        dev, test = (half_right(task, getattr(task.split, s), first_half) for s in ("dev", "test"))
        ensemble.add(name, {1.0: Outputs("dev", [(task.split.dev, dev)], [dev], [test], [2.0])})
        assert task.score(task.split.test, test > 0.5)["accuracy"] <= 0.55  # each member alone: about half
    ensemble.add("not a member", {})
    entry = ensemble.summary(task, {1.0: [task.split.train]}, no_halves)
    assert entry["members"] == ["a", "b"] and entry["choice"] == "greedy: a 0.50, b 0.50"
    assert entry["curve"][0]["weights"] == {"a": 0.5, "b": 0.5}  # a third addition would raise the loss
    assert entry["selection_score"] == entry["dev_score"] == entry["test_score"]["mean"] == 1.0
    assert entry["test_metrics"]["accuracy"] == 1.0 and entry["curve"][0]["runs"][0]["seconds"] == 4.0
    assert entry["dev_loss"] == pytest.approx(-np.log(0.65), abs=1e-5)  # the mean gives the true class 0.65


def no_halves(budget, entry, units):
    return None


def right_share(task, units: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Probabilities that give a random ``share`` of the examples their true class (0.7), the rest a wrong one."""
    targets = task.targets[task.examples(units)]
    right = np.random.default_rng(seed).random(len(targets)) < share
    wrong = np.roll(targets, 1, axis=1)
    return np.where(right[:, None], 0.7 * targets + 0.3 * wrong, 0.3 * targets + 0.7 * wrong)


def test_greedy_weights_leave_out_what_only_hurts_and_repeat_what_helps() -> None:
    target = np.array([1.0, 0.0, 1.0])

    def rank(mean):  # one entry; the score: closeness to the target
        return -float(np.abs(mean[0] - target).sum()), 0.0

    good, half, bad = np.array([1.0, 0.0, 0.8]), np.array([1.0, 0.0, 0.4]), np.array([0.0, 1.0, 0.0])
    assert greedy_weights([[bad, good]], rank).tolist() == [0.0, 1.0]  # the best alone: adding only hurts
    # good and half: good, then good + half lands on 0.6 (worse); so good alone. Two of good and one of a
    # member above the target pull the mean onto it: with replacement, weights can be uneven.
    over = np.array([1.0, 0.0, 1.4])
    assert greedy_weights([[good, half]], rank).tolist() == [1.0, 0.0]
    assert greedy_weights([[good, over, bad]], rank) == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert mix([good, over, bad], np.array([2 / 3, 1 / 3, 0.0])) == pytest.approx(target)


def test_a_member_that_is_always_wrong_gets_no_weight() -> None:
    task = topic_task(30, dev=0.2)
    ensemble = Ensemble()
    for name, share in (("good", 0.8), ("wrong", 0.0)):
        dev, test = (right_share(task, getattr(task.split, s), share, 1) for s in ("dev", "test"))
        ensemble.add(name, {1.0: Outputs("dev", [(task.split.dev, dev)], [dev], [test], [1.0])})
    entry = ensemble.summary(task, {1.0: [task.split.train]}, no_halves)
    good_alone = task.score(task.split.test, right_share(task, task.split.test, 0.8, 1) > 0.5)[task.metric]
    assert entry["curve"][0]["weights"] == {"good": 1.0} and entry["choice"] == "greedy: good 1.00"
    assert entry["test_score"]["mean"] == good_alone
    equal = Ensemble("equal")  # the plain mean gives the wrong member half the say, and the wrong class wins
    for name, out in zip(ensemble.members, ensemble.outputs[1.0]):
        equal.add(name, {1.0: out})
    assert equal.summary(task, {1.0: [task.split.train]}, no_halves)["test_score"]["mean"] < good_alone


def test_the_selection_score_weighs_each_half_with_the_weights_chosen_on_the_other() -> None:
    task = topic_task(40, dev=0.3)
    halves = Halves.of(task, task.split.dev, seed=7)
    targets = task.targets[task.examples(task.split.dev)]
    right, wrong = 0.7 * targets + 0.3 * np.roll(targets, 1, axis=1), 0.1 * targets + 0.9 * np.roll(targets, 1, axis=1)
    ensemble = Ensemble()
    for name, h in (("a", 0), ("b", 1)):  # a is right on half 0 and surely wrong on half 1; b the other way
        dev = np.where(halves.masks[h][:, None], right, wrong)
        test = right_share(task, task.split.test, 0.5, h)
        ensemble.add(name, {1.0: Outputs("dev", [(task.split.dev, dev)], [dev], [test], [1.0])})
    entry = ensemble.summary(task, {1.0: [task.split.train]}, lambda budget, e, units: halves)
    # each half gets the member chosen on the other half, which is wrong on it: every example wrong; weighed
    # on all of dev (no cross-fitting) one member alone is right on half of it, and the halves swapped all
    assert entry["selection_score"] == 0.0
    assert entry["dev_score"] > 0.3 and len(entry["curve"][0]["weights"]) == 1


def leaning_to_the_big_class(task, units: np.ndarray) -> np.ndarray:
    """Probabilities of a model that ranks each example's true class higher than for the other examples,
    but whose every argmax is the big class (column 0): macro-F1 half of what the ranking allows."""
    targets = task.targets[task.examples(units)]
    return np.where(targets[:, :1] == 1, [[0.7, 0.3]], [[0.55, 0.45]])


def test_the_prior_power_lets_a_small_class_be_predicted_where_macro_f1_rewards_it() -> None:
    docs = [("big", f"common words {i}") for i in range(80)] + [("small", f"rare words {i}") for i in range(20)]
    data = Dataset("classify", [t.split() for _, t in docs], [(label,) for label, _ in docs], "mem", "fasttext")
    task = build_task(data, split_indices(len(data), data.strata, 0.3, 0.3, seed=0))
    assert task.labels == ["big", "small"] and task.metric == "macro_f1"
    shares = task.targets[task.examples(task.split.train)].mean(axis=0)
    assert shares[1] == pytest.approx(0.2, abs=0.03)

    def summary(powers):
        ensemble = Ensemble("greedy", powers)
        for name in ("a", "b"):
            dev, test = (leaning_to_the_big_class(task, getattr(task.split, s)) for s in ("dev", "test"))
            ensemble.add(name, {1.0: Outputs("dev", [(task.split.dev, dev)], [dev], [test], [1.0])})
        return ensemble.summary(task, {1.0: [task.split.train]}, no_halves)

    plain, adjusted = summary((0.0,)), summary((0.0, 0.5, 1.0))
    assert plain["curve"][0]["prior_power"] == 0.0 and plain["choice"] == "greedy: a 1.00"
    assert plain["test_score"]["mean"] < 0.5  # the small class is never predicted
    # divided by shares ** 0.5 (0.9, 0.45), a small example's 0.45 outweighs its 0.55; a big one's 0.7 stays
    # ahead of its 0.3 (ties in score go to the lower loss, which 0.5 has over 1.0)
    assert adjusted["curve"][0]["prior_power"] == 0.5 and adjusted["choice"].endswith("; prior power 0.5")
    assert adjusted["test_score"]["mean"] == adjusted["selection_score"] == 1.0
    probabilities = adjust(leaning_to_the_big_class(task, task.split.test), shares, 0.5)
    assert probabilities.sum(axis=1) == pytest.approx(1.0)
    assert adjust(probabilities, shares, 0.0) is probabilities and adjust(probabilities, None, 1.0) is probabilities


def test_the_prior_powers_must_be_given_and_not_negative() -> None:
    for powers in ((), (0.0, -0.5)):
        with pytest.raises(ValueError, match="prior powers"):
            Ensemble("greedy", powers)


def test_the_baseline_may_join_the_ensemble_but_not_lead_it() -> None:
    def rank(mean):  # one entry: the closer to 1 everywhere, the better
        return -float(np.abs(mean[0] - 1.0).sum()), 0.0

    base, vectors = np.array([1.0, 1.0]), np.array([0.0, 1.0])
    assert greedy_weights([[vectors, base]], rank).tolist() == [0.0, 1.0]
    weights = greedy_weights([[vectors, base]], rank, leads=[True, False])
    assert weights[0] > 0 and weights[1] > weights[0]  # led by the vectors, then mostly the baseline


def test_members_must_hold_out_the_same_examples() -> None:
    task = topic_task(30, dev=0.2)
    dev = half_right(task, task.split.dev, True)
    ensemble = Ensemble()
    ensemble.add("a", {1.0: Outputs("dev", [(task.split.dev, dev)], [dev], [dev], [1.0])})
    with pytest.raises(ValueError, match="weighting must be one of greedy, equal"):
        Ensemble("best")
    with pytest.raises(ValueError, match="c ran other budgets than a"):
        ensemble.add("c", {0.5: Outputs("dev", [(task.split.dev, dev)], [dev], [dev], [1.0])})
    with pytest.raises(ValueError, match="b held out other examples than a"):
        ensemble.add("b", {1.0: Outputs("dev", [(task.split.dev[::-1], dev)], [dev], [dev], [1.0])})


def test_compare_cross_validates_the_ensemble_on_its_members_folds(monkeypatch) -> None:
    task = topic_task(40, dev=0.1)  # a dev split of 12 documents: every budget cross-validates
    kv = train_word2vec(topic_sentences(800), vector_size=16).wv
    added: dict[str, dict[float, Outputs]] = {}
    original = Ensemble.add

    def spy(self, name, outputs, lead=True):
        added[name] = outputs
        original(self, name, outputs, lead)

    monkeypatch.setattr(Ensemble, "add", spy)
    options = CurveOptions([0.25, 1.0], repeats=2, seed=0, min_per_class=2, model=MODEL,
                           selection=Selection("auto", folds=3, dev_below=200, budget_upto=0.05),
                           baseline=[BaselineOptions(1.0, "none")], candidates=[OPTIONS],
                           ensemble=["pretrained", "tfidf+lr"], ensemble_weights="equal")
    section, _ = compare(task, {"random": VectorSet("random", kv, False), "pretrained": VectorSet("pretrained", kv, False)},
                         options)
    entry = section["settings"]["ensemble"]
    assert entry["members"] == ["pretrained", "tfidf+lr"] and not added["random"]
    for point in entry["curve"]:
        members = [added[m][point["budget"]] for m in entry["members"]]
        assert point["selection"] == "cv" and all(m.method == "cv" for m in members)
        assert len(members[0].held) == 2 * 3  # every fold of every repeat
        scores = [task.score(units, (pa + pb).argmax(axis=1)[:, None] == np.arange(pa.shape[1]))[task.metric]
                  for (units, pa), (_, pb) in zip(members[0].held, members[1].held)]
        assert point["selection_score"] == round(float(np.mean(scores)), 5)
        assert point["selection_scores"] == pytest.approx(scores, abs=1e-5)  # per fold, for paired comparisons
    settings = section["settings"]
    assert section["prefer"] == "ensemble"
    for i, budget in enumerate(section["budgets"]):
        points = {n: s["curve"][i] for n, s in settings.items()}
        assert all(len(p["selection_scores"]) == 2 * 3 for p in points.values())
        # a rival that out-scores the ensemble carries the error of which units were held out
        for name, p in points.items():
            ahead = name != "ensemble" and p["selection_score"] > points["ensemble"]["selection_score"]
            assert ("resampling_error" in p) == ahead and p.get("resampling_error", 0.0) >= 0.0
        assert section["recommended"][str(budget)] == recommend(points, "ensemble")
    assert section["best"]["setting"] == section["recommended"]["1.0"]


def test_the_verdict_counts_the_ensemble_as_pretrained_only_where_it_weighs_a_pretrained_member() -> None:
    def point(score: float, **weights: float) -> dict:
        return {"selection_score": score, "test_score": {"mean": score, "std": 0.0}, "runs": [{}], "weights": weights}

    ensemble = {"curve": [point(0.5, **{"tfidf+lr": 1.0}), point(0.8, pretrained=0.5, **{"tfidf+lr": 0.5})]}
    section = {"budgets": [0.01, 1.0], "best": {"setting": "ensemble"},
               "settings": {"pretrained": {"curve": [point(0.3), point(0.7)]}, "ensemble": ensemble},
               "baselines": {"tfidf+lr": {"curve": [point(0.4), point(0.6)]}}}
    at_1, at_100 = verdict(section, n_test=1000)["transfer"]
    assert (at_1["pretrained"], at_1["without"]) == ("pretrained", "ensemble")  # the baseline alone there
    assert (at_100["pretrained"], at_100["without"]) == ("ensemble", "tfidf+lr")
    # a setting's run with bigrams reads its vectors: pretrained+bigrams, and an ensemble of it alone, are pretrained
    section["settings"] = {"random": {"curve": [point(0.3), point(0.7)]},
                           "pretrained+bigrams": {"curve": [point(0.2), point(0.6)]},
                           "ensemble": {"curve": [point(0.5, **{"pretrained+bigrams": 1.0}), point(0.8, random=1.0)]}}
    at_1, at_100 = verdict(section, n_test=1000)["transfer"]
    assert (at_1["pretrained"], at_1["without"]) == ("ensemble", "tfidf+lr")
    assert (at_100["pretrained"], at_100["without"]) == ("pretrained+bigrams", "ensemble")


def test_a_setting_runs_once_more_with_bigrams_and_the_ensemble_weighs_it() -> None:
    """On a task only word pairs solve, the pretrained setting's run with bigrams solves it and the ensemble
    gives it the weight; the setting on words alone cannot."""
    task = _order_task()
    kv = train_word2vec(task.data.tokens, vector_size=16).wv
    options = CurveOptions([1.0], repeats=2, seed=0, min_per_class=2, model=MODEL,
                           selection=Selection("dev", folds=3, dev_below=0, budget_upto=0.0),
                           baseline=[BaselineOptions(1.0, "none")], candidates=[OPTIONS],
                           ensemble=["pretrained", "tfidf+lr"], bigram_settings=["pretrained", "adapted"])
    section, _ = compare(task, {"pretrained": VectorSet("pretrained", kv, False)}, options)
    settings = section["settings"]
    assert list(settings) == ["pretrained", "pretrained+bigrams", "ensemble"]  # adapted did not run
    assert "bigrams" in settings["pretrained+bigrams"]["description"]
    accuracy = {n: s["test_metrics"]["accuracy"] for n, s in settings.items()}
    assert accuracy["pretrained"] < 0.7 and section["baselines"]["tfidf+lr"]["test_metrics"]["accuracy"] < 0.7
    assert accuracy["pretrained+bigrams"] > 0.95 and accuracy["ensemble"] > 0.95
    assert settings["ensemble"]["members"] == ["pretrained", "tfidf+lr", "pretrained+bigrams"]
    assert settings["ensemble"]["curve"][-1]["weights"] == {"pretrained+bigrams": 1.0}
    assert section["verdict"]["best"] in ("ensemble", "pretrained+bigrams")

    assert task.bigram_lexical(MODEL).shape[1] > task.lexical(MODEL).shape[1]
    assert task.bigram_lexical(replace(MODEL, ngrams=2)) is None  # the lexical part has bigrams already
    assert task.bigram_lexical(replace(MODEL, lexical=False)) is None

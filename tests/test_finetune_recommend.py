"""The recommended setting per budget: the ensemble unless a setting beats it beyond the noise of paired scores."""

from __future__ import annotations

import numpy as np
import pytest

from shardvec.finetune.recommend import beats, recommend, resampling_error
from shardvec.spans import spans
from shardvec.finetune.verdict import verdict


def point(*scores: float) -> dict:
    return {"selection_score": round(sum(scores) / len(scores), 5), "selection_scores": list(scores),
            "test_score": {"mean": sum(scores) / len(scores), "std": 0.0}, "runs": [{}]}


def test_a_steady_gain_beats_and_a_noisy_one_does_not() -> None:
    ensemble = [0.50, 0.40, 0.60, 0.45, 0.55]
    steady = [s + 0.01 for s in ensemble]  # +0.01 on every entry: no spread, beyond noise
    noisy = [s + d for s, d in zip(ensemble, (0.08, -0.06, 0.07, -0.05, 0.01))]  # mean +0.01, spread 0.06
    assert beats(steady, ensemble)
    assert not beats(noisy, ensemble)
    assert not beats(ensemble, ensemble) and not beats([s - 0.01 for s in ensemble], ensemble)
    # differences 0.01 and 0.04: mean 0.025, standard error 0.015; 0.02 and 0.03: mean 0.025, error 0.005
    assert not beats([0.51, 0.54], [0.5, 0.5]) and beats([0.52, 0.53], [0.5, 0.5])


def test_one_entry_has_no_error_to_measure_so_the_higher_score_wins() -> None:
    assert beats([0.51], [0.50]) and not beats([0.50], [0.50])


def test_the_resampling_error_adds_to_the_seeds_spread() -> None:
    assert beats([0.51, 0.51, 0.51], [0.50, 0.50, 0.50])  # no spread over seeds: any gain
    assert not beats([0.51, 0.51, 0.51], [0.50, 0.50, 0.50], resampling=0.006)  # 0.01 is not above 2 x 0.006
    assert beats([0.52, 0.52, 0.52], [0.50, 0.50, 0.50], resampling=0.006)
    assert not beats([0.51], [0.50], resampling=0.01)


def _accuracy(units: np.ndarray, probabilities: np.ndarray) -> float:
    return float((probabilities.argmax(axis=1) == (units % 2)).mean())  # unit u's class is u % 2


def _held(n: int, wrong: int, shift: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """One entry of ``n`` one-example units, all right but ``wrong`` units starting at ``shift``."""
    units = np.arange(n)
    right = np.eye(2)[units % 2]
    right[shift:shift + wrong] = 1 - right[shift:shift + wrong]
    return [(units, right)]


def test_the_resampling_error_is_the_bootstrap_error_of_the_paired_gain() -> None:
    # the rival gets 4 of 200 units right that the incumbent gets wrong: gain 0.02, error about sqrt(4) / 200
    small = resampling_error(_held(200, 0), _held(200, 4), _accuracy, np.ones(200, dtype=int), resamples=400)
    assert 0.006 < small < 0.014
    # the same gain over ten times the units: an error about sqrt(10) times smaller
    large = resampling_error(_held(2000, 0), _held(2000, 40), _accuracy, np.ones(2000, dtype=int), resamples=400)
    assert 2.4 < small / large < 4.2
    # the same predictions: no gain in any resample
    assert resampling_error(_held(200, 4), _held(200, 4), _accuracy, np.ones(200, dtype=int)) == 0.0


def test_entries_that_share_their_units_share_each_resample() -> None:
    # three repeats scored on one dev split are one draw of its documents, not three
    one = resampling_error(_held(300, 0), _held(300, 9), _accuracy, np.ones(300, dtype=int))
    three = resampling_error(_held(300, 0) * 3, _held(300, 9) * 3, _accuracy, np.ones(300, dtype=int))
    assert three == pytest.approx(one) and one > 0
    with pytest.raises(ValueError, match="same units"):
        resampling_error(_held(300, 0), [(np.arange(1, 301), _held(300, 9)[0][1])], _accuracy,
                         np.ones(301, dtype=int))


def test_a_resampled_unit_brings_all_its_rows() -> None:
    sizes = np.array([2, 3, 1])  # unit 0 has rows 0-1, unit 1 rows 2-4, unit 2 row 5
    picked = np.array([1, 1, 2, 0])
    assert spans((np.cumsum(sizes) - sizes)[picked], sizes[picked]).tolist() == [2, 3, 4, 2, 3, 4, 5, 0, 1]
    assert spans(np.array([5, 0]), np.array([0, 2])).tolist() == [0, 1]  # an empty range adds nothing


def test_paired_scores_must_cover_the_same_entries() -> None:
    with pytest.raises(ValueError, match="same entries: 2 against 3"):
        beats([0.1, 0.2], [0.1, 0.2, 0.3])


def test_the_preferred_setting_stands_unless_beaten_and_then_the_best_rival_wins() -> None:
    points = {"adapted": point(0.52, 0.40, 0.63), "target": point(0.30, 0.31, 0.32),
              "ensemble": point(0.50, 0.41, 0.60)}
    assert recommend(points) == "adapted"  # the best selection score
    assert recommend(points, "ensemble") == "ensemble"  # adapted's +0.013 is within its spread
    points["finetuned"] = point(0.53, 0.44, 0.63)  # +0.03 on every entry
    points["pretrained"] = point(0.55, 0.46, 0.66)  # +0.05 on every entry
    assert recommend(points, "ensemble") == "pretrained"
    assert recommend(points, "missing") == "pretrained"  # not among the points: the best score
    points["random"] = point(0.90, 0.30, 0.75)  # the best mean, but +0.40, -0.11, +0.15: within its spread
    assert recommend(points) == "random"
    assert recommend(points, "ensemble") == "pretrained"  # the best among the rivals that beat it, not overall


def test_the_verdict_compares_the_recommended_settings_of_each_group() -> None:
    section = {"budgets": [1.0], "best": {"setting": "ensemble"}, "prefer": "ensemble",
               "settings": {"pretrained": point(0.52, 0.40, 0.63), "target": point(0.30, 0.31, 0.32),
                            "ensemble": {**point(0.50, 0.41, 0.60), "weights": {"pretrained": 1.0}}},
               "baselines": {}}
    for s in section["settings"].values():
        s["curve"] = [dict(s)]
    transfer = verdict(section, n_test=1000)["transfer"][0]
    assert (transfer["pretrained"], transfer["without"]) == ("ensemble", "target")
    section["prefer"] = None
    assert verdict(section, n_test=1000)["transfer"][0]["pretrained"] == "pretrained"

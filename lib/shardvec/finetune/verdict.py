"""What a report may claim: which differences exceed the noise of its own test split and repeats.

A test split of 40 sentences moves an accuracy by about 0.08 from one draw
of sentences to the next, so a report that crowns the setting 0.03 ahead
says more than it knows. Each mean test score here gets a standard error
from two sources: the spread over repeats (``std / sqrt(repeats)``) and
test-set sampling (``sqrt(s (1 - s) / n)`` for a score ``s`` over ``n``
test examples, the binomial error of an accuracy, used as a rough guide for
F1 too). Two settings differ *beyond noise* when their means are more than
two standard errors of the difference apart, the errors taken as
independent. The rule is rough and on the cautious side (both settings are
scored on the same test examples, which makes a real difference easier to
see than this says), and it is meant for one thing: not to call a winner
that the data cannot show.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shardvec.finetune.recommend import recommend
from shardvec.finetune.vectorsets import vectors_of

PRETRAINED = ("pretrained", "adapted", "finetuned", "adapted+finetuned")


def _error(point: dict[str, Any], n_test: int) -> float:
    """Standard error of one curve point's mean test score."""
    mean, std = point["test_score"]["mean"], point["test_score"]["std"]
    repeats = len(point["runs"])
    sampling = mean * (1 - mean) / max(n_test, 1)
    return float(np.sqrt(std ** 2 / repeats + sampling))


def compare_points(a: dict[str, Any], b: dict[str, Any], n_test: int) -> dict[str, float | bool]:
    """Difference of two curve points' mean test scores, its noise band (two standard errors), and whether it
    exceeds it."""
    difference = a["test_score"]["mean"] - b["test_score"]["mean"]
    band = 2 * float(np.hypot(_error(a, n_test), _error(b, n_test)))
    return {"difference": round(difference, 4), "noise": round(band, 4), "beyond_noise": abs(difference) > band}


def _recommended_at(candidates: dict[str, dict[str, Any]], index: int, prefer: str | None) -> str | None:
    """The candidate recommended at curve point ``index`` (chosen without test scores; see
    :mod:`shardvec.finetune.recommend`)."""
    points = {n: c["curve"][index] for n, c in candidates.items() if len(c["curve"]) > index}
    return recommend(points, prefer) if points else None


def _pretrained(name: str, point: dict[str, Any]) -> bool:
    """Whether a setting's curve point uses the pretrained vectors: one of them, or an ensemble that gives
    one of them weight there."""
    return vectors_of(name) in PRETRAINED or any(vectors_of(m) in PRETRAINED for m in point.get("weights", {}))


def verdict(section: dict[str, Any], n_test: int) -> dict[str, Any]:
    """Per budget, pretraining against no pretraining; at the full budget, the best setting against the rest."""
    settings, baselines = section["settings"], section.get("baselines", {})
    transfer = []
    for i, budget in enumerate(section["budgets"]):
        at = {n: s for n, s in {**settings, **baselines}.items() if len(s["curve"]) > i}
        with_pretraining = {n: s for n, s in at.items() if _pretrained(n, s["curve"][i])}
        without = {n: s for n, s in at.items() if n not in with_pretraining}
        prefer = section.get("prefer")
        pre, base = _recommended_at(with_pretraining, i, prefer), _recommended_at(without, i, prefer)
        if pre is None or base is None:
            continue
        found = compare_points(with_pretraining[pre]["curve"][i], without[base]["curve"][i], n_test)
        word = "within noise" if not found["beyond_noise"] else \
            "pretraining helps" if found["difference"] > 0 else "pretraining hurts"
        transfer.append({"budget": budget, "pretrained": pre, "without": base, **found, "verdict": word})
    best = section["best"]["setting"]
    ties = [n for n, s in {**settings, **baselines}.items() if n != best and
            not compare_points(settings[best]["curve"][-1], s["curve"][-1], n_test)["beyond_noise"]]
    return {"test_examples": n_test, "transfer": transfer, "best": best, "within_noise_of_best": ties}

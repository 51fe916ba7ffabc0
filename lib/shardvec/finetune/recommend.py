"""Which setting a report recommends at each budget: the ensemble, unless another setting's selection scores beat
it beyond noise.

The ensemble already chooses among its members on the held-out examples
(its weights can give one member everything), and its selection score is
cross-fitted. Choosing once more between it and those same members on their
selection scores adds a second, noisier choice: on the benchmark sets a
member with a better selection score than the ensemble's was chosen where
the ensemble then had the better test score (Brown genres at 1 %: adapted
0.154 against the ensemble's 0.173; fortunes at 100 %: adapted 0.486 against
0.488; ``bench/RESULTS.md``).

So with ``finetune.prefer_ensemble`` the ensemble is recommended at a budget
unless another setting beats it beyond noise. Every setting holds out the
same units in the same entries (each repeat's dev split, or each fold of
each repeat: folds depend only on the seed, budget and repeat), so the
comparison is paired: a rival beats the ensemble when the mean of its
per-entry differences (``selection_scores``) is more than twice their
standard error. Among the rivals that do, the best selection score wins.
With a single entry the seeds' spread cannot be measured: only the
resampling error below counts.

The spread of the per-entry differences is the noise of the seeds and
draws, not that of which documents were held out: at the full budget every
repeat scores the same dev split, so a rival ahead by a hair on that split
is ahead in every entry and looked beyond noise (WordNet at 100 %: adapted
beat the ensemble by 0.0037 +- 0.0015 on dev, then lost to it on test,
0.480 against 0.489). So the held-out units are resampled too
(:func:`resampling_error`: a bootstrap of the units, each unit weighted
alike in every entry, so that entries sharing a dev split share its
draws), and the two errors add in quadrature: a rival beats the ensemble
when its mean gain exceeds twice ``sqrt(seeds_error**2 +
resampling_error**2)``. The report stores each rival's resampling error in
its curve point (``resampling_error``), so this choice can be made again
from the report alone.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from shardvec.finetune.ensemble import Held
from shardvec.spans import spans


RESAMPLES = 100


def beats(rival: list[float], incumbent: list[float], resampling: float = 0.0) -> bool:
    """Whether per-entry scores ``rival`` beat ``incumbent`` (same entries, same order) beyond noise: the
    spread of their differences and ``resampling``, the error from which units were held out."""
    if len(rival) != len(incumbent):
        raise ValueError(f"paired scores need the same entries: {len(rival)} against {len(incumbent)}")
    differences = np.asarray(rival, dtype=np.float64) - np.asarray(incumbent, dtype=np.float64)
    gain = float(differences.mean())
    seeds = float(differences.std(ddof=1)) / math.sqrt(len(differences)) if len(differences) > 1 else 0.0
    return gain > 0 and gain > 2 * math.hypot(seeds, resampling)


def resampling_error(rival: Held, incumbent: Held, score: Callable[[np.ndarray, np.ndarray], float],
                     sizes: np.ndarray, seed: int = 0, resamples: int = RESAMPLES) -> float:
    """Bootstrap standard error of the mean held-out gain of ``rival`` over ``incumbent`` (same entries and
    units), from which units were held out: each resample weighs every unit by a Poisson(1) count, the same
    count in every entry that holds it. ``score(units, probabilities)`` scores an entry; ``sizes[u]`` is the
    number of examples (rows) of unit ``u``."""
    for (units, _), (other, _) in zip(rival, incumbent):
        if not np.array_equal(units, other):
            raise ValueError("paired held-out probabilities need the same units")
    rng = np.random.default_rng(seed)
    top = 1 + max((int(units.max()) for units, _ in rival if len(units)), default=0)
    first_rows = [np.cumsum(sizes[units]) - sizes[units] for units, _ in rival]  # each unit's first row, per entry
    gains = []
    for _ in range(resamples):
        counts = rng.poisson(1.0, top)
        entries = []
        for (units, p_rival), (_, p_incumbent), firsts in zip(rival, incumbent, first_rows):
            picked = np.repeat(np.arange(len(units)), counts[units])
            if len(picked):
                rows = spans(firsts[picked], sizes[units][picked])
                entries.append(score(units[picked], p_rival[rows]) - score(units[picked], p_incumbent[rows]))
        gains.append(np.mean(entries) if entries else 0.0)
    return float(np.std(gains, ddof=1))


def recommend(points: dict[str, dict[str, Any]], prefer: str | None = None,
              key: Callable[[str], Any] | None = None) -> str:
    """Among settings' curve points at one budget, the recommended one: the best ``key`` (default: selection
    score; ties go to the earlier setting), or ``prefer`` unless some setting beats it beyond noise."""
    def by_score(name: str) -> Any:
        return points[name]["selection_score"]

    rank = key or by_score
    candidates = list(points)
    if prefer in points:
        rivals = [n for n in points if n != prefer and
                  beats(points[n]["selection_scores"], points[prefer]["selection_scores"],
                        points[n].get("resampling_error", 0.0))]
        candidates = rivals or [prefer]
    return max(candidates, key=rank)

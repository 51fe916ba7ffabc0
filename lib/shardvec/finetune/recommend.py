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
With a single entry there is no error to measure: the higher score wins.

The entries are taken as independent, which they are not quite: at the full
budget every repeat scores the same dev split (only the seeds differ), and
folds of one repeat share training data. So the rule sees less noise than
there is, and a rival that is consistently ahead by a hair beats the
ensemble; resampling the held-out documents would see the rest.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np


def beats(rival: list[float], incumbent: list[float]) -> bool:
    """Whether per-entry scores ``rival`` beat ``incumbent`` (same entries, same order) beyond noise."""
    if len(rival) != len(incumbent):
        raise ValueError(f"paired scores need the same entries: {len(rival)} against {len(incumbent)}")
    differences = np.asarray(rival, dtype=np.float64) - np.asarray(incumbent, dtype=np.float64)
    gain = float(differences.mean())
    if len(differences) < 2:
        return gain > 0
    return gain > 0 and gain > 2 * float(differences.std(ddof=1)) / math.sqrt(len(differences))


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
                  beats(points[n]["selection_scores"], points[prefer]["selection_scores"])]
        candidates = rivals or [prefer]
    return max(candidates, key=rank)

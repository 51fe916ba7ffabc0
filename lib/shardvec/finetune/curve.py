"""The report's learning-curve entries, built the same way for a trained setting, the baseline and the ensemble."""

from __future__ import annotations

from typing import Any

import numpy as np

TEST_METRICS = ("accuracy", "macro_f1", "micro_f1")


def spread(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(a.mean()), 4), "std": round(float(a.std()), 4),
            "min": round(float(a.min()), 4), "max": round(float(a.max()), 4)}


def point(budget: float, train_units: int, runs: list[dict[str, Any]], **choice: Any) -> dict[str, Any]:
    """One budget's entry: what was chosen and how (``choice``), and its runs' dev and test scores."""
    return {"budget": budget, "train_units": train_units, **choice,
            "dev_score": spread([r["dev_score"] for r in runs]),
            "test_score": spread([r["test_score"] for r in runs]), "runs": runs}


def summary(curve: list[dict[str, Any]], dev_loss: float, first_test: dict[str, Any]) -> dict[str, Any]:
    """A setting's entry: its full-budget point's choice and scores, and the whole curve."""
    full = curve[-1]
    return {
        "dev_score": full["dev_score"]["mean"],
        "dev_loss": round(dev_loss, 5),
        **{k: full[k] for k in ("learning_rate", "lexical_l2", "C") if k in full},
        "choice": full["choice"], "selection": full["selection"], "selection_score": full["selection_score"],
        "test_score": full["test_score"],
        "test_means": {k: round(float(np.mean([r["test"][k] for r in full["runs"]])), 4)
                       for k in full["runs"][0]["test"]},
        "test_metrics": first_test,
        "curve": curve,
    }

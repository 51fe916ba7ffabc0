"""Scores: per-class and averaged precision/recall/F1, accuracy, confusion, entity spans.

Class metrics work on indicator matrices (examples x classes), so single- and
multi-label predictions are scored by the same code; accuracy is exact match.
Tag sequences in BIO (IOB2) form are scored on entities as CoNLL's
``conlleval`` does: an entity counts only if its type and both ends match;
an ``I-`` tag that does not continue an entity of its type opens a new one.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

_BIO = re.compile(r"^[BI]-.+$")


def _prf(tp: float, fp: float, fn: float) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def _averages(per_class: dict[str, dict[str, Any]], tp: float, fp: float, fn: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in ("precision", "recall", "f1"):
        out[f"macro_{key}"] = round(float(np.mean([c[key] for c in per_class.values()])), 4) if per_class else 0.0
    out.update({f"micro_{k}": v for k, v in _prf(tp, fp, fn).items()})
    return out


def class_metrics(truth: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Accuracy, per-class and macro/micro P/R/F1 and, for single-label data, the confusion matrix."""
    truth, pred = truth.astype(bool), pred.astype(bool)
    tp = (truth & pred).sum(axis=0)
    fp = (~truth & pred).sum(axis=0)
    fn = (truth & ~pred).sum(axis=0)
    per_class = {label: {**_prf(tp[k], fp[k], fn[k]), "support": int(truth[:, k].sum())}
                 for k, label in enumerate(labels)}
    result: dict[str, Any] = {"examples": len(truth),
                              "accuracy": round(float((truth == pred).all(axis=1).mean()), 4) if len(truth) else 0.0,
                              **_averages(per_class, tp.sum(), fp.sum(), fn.sum()), "per_class": per_class}
    if (truth.sum(axis=1) == 1).all() and (pred.sum(axis=1) == 1).all():
        confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
        np.add.at(confusion, (truth.argmax(axis=1), pred.argmax(axis=1)), 1)
        result["confusion"] = {"labels": labels, "rows_are": "true", "matrix": confusion.tolist()}
    return result


def is_bio(tags: set[str]) -> bool:
    """True when every tag is ``O``, ``B-type`` or ``I-type`` and some are not ``O``."""
    return tags != {"O"} and all(t == "O" or _BIO.match(t) for t in tags)


def entities(tags: list[str]) -> set[tuple[str, int, int]]:
    """(type, start, end-exclusive) spans of a BIO tag sequence, conlleval-style."""
    spans: set[tuple[str, int, int]] = set()
    kind, start = None, 0
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, label = tag.partition("-")
        continues = prefix == "I" and label == kind
        if kind is not None and not continues:
            spans.add((kind, start, i))
            kind = None
        if prefix in ("B", "I") and not continues:
            kind, start = label, i
    return spans


def entity_metrics(truth: list[list[str]], pred: list[list[str]]) -> dict[str, Any]:
    """Entity-level P/R/F1 per type, micro (the CoNLL score) and macro over types."""
    gold = {(s, *e) for s, tags in enumerate(truth) for e in entities(tags)}
    found = {(s, *e) for s, tags in enumerate(pred) for e in entities(tags)}
    types = sorted({e[1] for e in gold | found})
    per_type = {}
    for t in types:
        g = {e for e in gold if e[1] == t}
        f = {e for e in found if e[1] == t}
        per_type[t] = {**_prf(len(g & f), len(f - g), len(g - f)), "support": len(g)}
    return {"sentences": len(truth), "entities": len(gold), "predicted_entities": len(found),
            **_averages(per_type, len(gold & found), len(found - gold), len(gold - found)),
            "per_type": per_type}

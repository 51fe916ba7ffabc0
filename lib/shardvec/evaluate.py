"""Intrinsic quality of word vectors: analogies, WordSim353, SimLex-999.

The evaluation sets are the ones gensim ships (``gensim/test/test_data``), so
scores are comparable with published gensim figures and need no download.
Each score comes with the share of questions or pairs skipped because a word
is out of vocabulary: a high score on 5% of the pairs means little.
"""

from __future__ import annotations

import math
from typing import Any


def _datapath(name: str) -> str:
    from gensim.test.utils import datapath

    return datapath(name)


def _count_questions(path: str) -> int:
    with open(path, encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip() and not line.startswith(":"))


def _finite(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 4)


def analogy_score(kv, restrict_vocab: int, path: str | None = None) -> dict[str, Any]:
    path = path or _datapath("questions-words.txt")
    total = _count_questions(path)
    score, sections = kv.evaluate_word_analogies(path, restrict_vocab=restrict_vocab)
    answered = len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
    return {"accuracy": _finite(score) if answered else None, "questions": total, "answered": answered,
            "oov_share": round(1 - answered / total, 4) if total else None}


def similarity_score(kv, name: str) -> dict[str, Any]:
    path = _datapath(name)
    with open(path, encoding="utf-8") as fh:
        total = sum(1 for line in fh if line.strip() and not line.startswith("#"))
    pearson, spearman, oov_percent = kv.evaluate_word_pairs(path, restrict_vocab=len(kv), case_insensitive=True)
    return {"spearman": _finite(spearman[0]), "pearson": _finite(pearson[0]), "pairs": total,
            "oov_share": round(oov_percent / 100, 4)}


def intrinsic_scores(kv, restrict_vocab: int = 30000) -> dict[str, Any]:
    """Analogy accuracy and both similarity correlations, each with its out-of-vocabulary share."""
    return {
        "analogy": analogy_score(kv, restrict_vocab),
        "wordsim353": similarity_score(kv, "wordsim353.tsv"),
        "simlex999": similarity_score(kv, "simlex999.txt"),
        "vocab_size": len(kv),
        "restrict_vocab": restrict_vocab,
    }


def format_scores(scores: dict[str, Any]) -> str:
    def cell(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.4f}"

    a, w, s = scores["analogy"], scores["wordsim353"], scores["simlex999"]
    rows = [("analogy accuracy", cell(a["accuracy"]), f"{a['oov_share']:.1%}"),
            ("WordSim353 Spearman", cell(w["spearman"]), f"{w['oov_share']:.1%}"),
            ("SimLex-999 Spearman", cell(s["spearman"]), f"{s['oov_share']:.1%}")]
    lines = [f"{'score':<22}{'value':>8}{'skipped (OOV)':>16}"]
    lines += [f"{name:<22}{value:>8}{oov:>16}" for name, value, oov in rows]
    return "\n".join(lines)

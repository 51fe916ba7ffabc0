"""The alpha-word rule counts the words str.split() gives that hold a str.isalpha character."""

from __future__ import annotations

import random

from shardvec.text.charclass import ASTRAL
from shardvec.text.quality import QualitySettings, _letterless_words, quality_reason


def _words_with_a_letter(text: str) -> int:
    return sum(1 for w in text.split() if any(c.isalpha() for c in w))


def test_letterless_words_on_random_text() -> None:
    pieces = list("a1 \t\n_-.!é٣²½ǅ\u3000\u00a0\x85\x1c#…") + ["123", "abc", "x2", "ΟΔ", "日本", "🐍", "\u0301", "𝐀"]
    rng = random.Random(11)
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40)))
        if not ASTRAL.search(text):
            assert len(text.split()) - len(_letterless_words().findall(text)) == _words_with_a_letter(text), repr(text)
        settings = QualitySettings(min_words=1, min_mean_word_length=0, max_mean_word_length=0, max_symbol_word_ratio=0,
                                   min_alpha_word_share=0.5, min_stop_words=0, max_ellipsis_line_share=0)
        share = _words_with_a_letter(text) / max(len(text.split()), 1)
        assert (quality_reason(text, settings) == "alpha_word_share") == (bool(text.split()) and share < 0.5), repr(text)


def test_alpha_word_share_threshold() -> None:
    settings = QualitySettings(min_words=5, min_mean_word_length=1, min_stop_words=0, max_symbol_word_ratio=0)
    assert quality_reason("the cat 12 34 sat on the mat", settings) == "alpha_word_share"  # 6 of 8: 0.75 < 0.8
    settings = QualitySettings(min_words=5, min_mean_word_length=1, min_stop_words=0, max_symbol_word_ratio=0,
                               min_alpha_word_share=0.7)
    assert quality_reason("the cat 12 34 sat on the mat", settings) is None
    assert quality_reason("the 1 2 3 4 5 6 cat ² ½", settings) == "alpha_word_share"

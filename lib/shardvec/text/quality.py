"""Gopher/C4-style document quality rules (Rae et al. 2021, Raffel et al. 2020).

:func:`quality_reason` returns None for a document worth keeping, else the
name of the first rule it breaks; the name is the drop reason in the
manifest. A threshold of 0 turns its rule off. Words are whitespace-separated,
as in Gopher; the stop-word rule is English-only and off unless set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from shardvec.text.charclass import ASTRAL, bmp_ranges

# Gopher's "at least two of these" list.
STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
_ELLIPSIS = ("...", "…")


@lru_cache(maxsize=1)
def _letterless_words() -> re.Pattern[str]:
    """Whitespace-separated words without a letter (no character ``str.isalpha`` accepts), in a text
    within the BMP (:mod:`shardvec.text.charclass`).

    One regex pass over the text instead of a Python loop over its words and
    their characters; ``\\s`` is ``str.isspace``, so the words are those of
    ``str.split()``.
    """
    return re.compile(r"(?<!\S)[^\s" + bmp_ranges(str.isalpha) + r"]+(?!\S)")


@dataclass(frozen=True)
class QualitySettings:
    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1
    min_alpha_word_share: float = 0.8
    min_stop_words: int = 2
    max_ellipsis_line_share: float = 0.3


def quality_reason(text: str, settings: QualitySettings) -> str | None:
    """The first quality rule ``text`` breaks, or None if it passes them all."""
    words = text.split()
    n = len(words)
    if n < settings.min_words:
        return "too_few_words"
    if settings.max_words and n > settings.max_words:
        return "too_many_words"
    if n == 0:
        return None
    mean_length = sum(map(len, words)) / n
    if mean_length < settings.min_mean_word_length or (
            settings.max_mean_word_length and mean_length > settings.max_mean_word_length):
        return "mean_word_length"
    if settings.max_symbol_word_ratio:
        symbols = text.count("#") + text.count("...") + text.count("…")
        if symbols / n > settings.max_symbol_word_ratio:
            return "symbol_word_ratio"
    if settings.min_alpha_word_share:
        if ASTRAL.search(text):
            alpha = sum(1 for w in words if any(c.isalpha() for c in w))
        else:
            alpha = n - len(_letterless_words().findall(text))
        if alpha / n < settings.min_alpha_word_share:
            return "alpha_word_share"
    if settings.min_stop_words:
        found = 0
        for w in words:
            if w.lower() in STOP_WORDS:
                found += 1
                if found >= settings.min_stop_words:
                    break
        if found < settings.min_stop_words:
            return "few_stop_words"
    if settings.max_ellipsis_line_share:
        lines = [line for line in text.splitlines() if line.strip()]
        ellipsis = sum(1 for line in lines if line.rstrip().endswith(_ELLIPSIS))
        if lines and ellipsis / len(lines) > settings.max_ellipsis_line_share:
            return "ellipsis_lines"
    return None

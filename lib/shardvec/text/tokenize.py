"""Sentences of tokens from normalized text.

The token pattern is Unicode-aware (letters and digits of any script), keeps
inner apostrophes and hyphens (``don't``, ``state-of-the-art``) and drops
punctuation, which Word2Vec would only learn as noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

_TOKEN = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
# A sentence ends at . ! ? (optionally followed by quotes/brackets) before
# whitespace, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|\n+")


@dataclass(frozen=True)
class TokenizerSettings:
    """The knobs of :func:`sentences_from_text`, taken from ``[prepare]``."""

    lowercase: bool = True
    min_sentence_tokens: int = 2
    max_sentence_length: int = 10000


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s and not s.isspace()]


def tokenize(sentence: str, lowercase: bool = True) -> list[str]:
    if lowercase:
        sentence = sentence.lower()
    return _TOKEN.findall(sentence)


def sentences_from_text(text: str, settings: TokenizerSettings) -> Iterator[list[str]]:
    """Yield token lists, long ones split at ``max_sentence_length``.

    Sentences shorter than ``min_sentence_tokens`` are skipped: a one-word
    "sentence" gives Word2Vec no context to learn from.
    """
    step = settings.max_sentence_length
    for sentence in split_sentences(text):
        tokens = tokenize(sentence, settings.lowercase)
        for start in range(0, len(tokens), step):
            piece = tokens[start:start + step]
            if len(piece) >= settings.min_sentence_tokens:
                yield piece

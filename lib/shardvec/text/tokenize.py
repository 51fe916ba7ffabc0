"""Sentences of tokens from normalized text.

The token pattern is Unicode-aware (letters and digits of any script), keeps
inner apostrophes and hyphens (``don't``, ``state-of-the-art``) and PII
placeholders (``<email>``), and drops punctuation, which Word2Vec would only
learn as noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from shardvec.text.pii import PLACEHOLDERS

# The tokenizer's character classes, one regular expression each. The batch
# tokenizer (:mod:`shardvec.text.batch_tokenize`) evaluates these very
# expressions on every code point, so both agree by construction.
WORD = r"[^\W_]"  # a letter or digit of any script (str.isalnum), not the underscore
JOIN = r"['’\-]"  # joins two runs of WORD into one token: don't, state-of-the-art
END = r"[.!?]"  # ends a sentence when whitespace follows (after closing quotes)
CLOSE = r"[\"'”’)\]]"  # closing quotes and brackets between END and the whitespace
SPACE = r"\s"
DIGIT = r"\d"
_TOKEN = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values()) + f"|{WORD}+(?:{JOIN}{WORD}+)*")
# A sentence ends at . ! ? (optionally followed by quotes/brackets) before
# whitespace, or at a line break.
_SENTENCE_END = re.compile(f"(?<={END}){CLOSE}*{SPACE}+" + r"|\n+")
_DIGIT = re.compile(DIGIT)


@dataclass(frozen=True)
class TokenizerSettings:
    """The knobs of :func:`sentences_from_text`, taken from ``[prepare]``."""

    lowercase: bool = True
    min_sentence_tokens: int = 2
    max_sentence_length: int = 10000
    fold_numbers: bool = False


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s and not s.isspace()]


def tokenize(sentence: str, lowercase: bool = True, fold_numbers: bool = False) -> list[str]:
    """Word tokens of one sentence; with ``fold_numbers`` every digit becomes 0 (``1984`` -> ``0000``),
    so years and prices share a few vocabulary entries instead of thousands."""
    if lowercase:
        sentence = sentence.lower()
    if fold_numbers:
        sentence = _DIGIT.sub("0", sentence)
    return _TOKEN.findall(sentence)


def sentences_from_text(text: str, settings: TokenizerSettings) -> Iterator[list[str]]:
    """Yield token lists, long ones split at ``max_sentence_length``.

    Sentences shorter than ``min_sentence_tokens`` are skipped: a one-word
    "sentence" gives Word2Vec no context to learn from.
    """
    step = settings.max_sentence_length
    for sentence in split_sentences(text):
        tokens = tokenize(sentence, settings.lowercase, settings.fold_numbers)
        for start in range(0, len(tokens), step):
            piece = tokens[start:start + step]
            if len(piece) >= settings.min_sentence_tokens:
                yield piece

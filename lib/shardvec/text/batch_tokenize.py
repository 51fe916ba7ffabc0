"""Sentences of tokens for a whole batch of documents at once, from their UTF-8 bytes.

Gives exactly the sentences of :func:`shardvec.text.tokenize.sentences_from_text`
(the per-document reference, which the tests hold it to) without a Python
call per sentence or per token, which made tokenizing the slowest step of
prepare. Why it agrees with the reference:

* each character class (:data:`~shardvec.text.tokenize.WORD`, ``JOIN``,
  ``END``, ``CLOSE``, ``SPACE``, ``DIGIT``) is the reference's own regular
  expression, evaluated once on every code point into a lookup table, which
  the scan (:mod:`shardvec.text.token_scan`) reads character by character;
* lowercasing is ``str.lower`` per document, whose final-sigma rule needs
  context (and which may lengthen a text: ``İ`` -> ``i`` + U+0307), or on
  ASCII documents Arrow's ``ascii_lower``, which is the same there;
* the documents are joined with ``\\n``, which ends a sentence and is in
  no token, so nothing crosses from one document to the next;
* PII placeholders (``<email>``) are found as the reference's regular
  expression finds them, before the scan: no word token can cover a ``<``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shardvec.text import tokenize
from shardvec.text.arrow_views import string_bytes, string_offsets
from shardvec.text.pii import PLACEHOLDERS
from shardvec.text.tokenize import TokenizerSettings

# The class bits of character_classes, one per class of the tokenizer's regular expressions.
WORD_BIT, JOIN_BIT, END_BIT, CLOSE_BIT, SPACE_BIT, DIGIT_BIT = 1, 2, 4, 8, 16, 32
_PLACEHOLDER = re.compile(b"|".join(re.escape(p.encode()) for p in PLACEHOLDERS.values()))
# Documents are tokenized in groups of about this many bytes: the scan's buffers (room for a token per
# byte) stay a few tens of MB whatever the size of the Arrow batch.
_GROUP_BYTES = 1 << 22


@lru_cache(maxsize=1)
def character_classes() -> np.ndarray:
    """The class bits of every code point (0x110000 of them), from the tokenizer's regular expressions."""
    points = np.concatenate([np.arange(0xD800), np.arange(0xE000, 0x110000)]).astype("<u4")
    every = points.tobytes().decode("utf-32-le")
    table = np.zeros(0x110000, dtype=np.uint8)
    for bit, pattern in ((WORD_BIT, tokenize.WORD), (JOIN_BIT, tokenize.JOIN), (END_BIT, tokenize.END),
                         (CLOSE_BIT, tokenize.CLOSE), (SPACE_BIT, tokenize.SPACE), (DIGIT_BIT, tokenize.DIGIT)):
        # Every member becomes NUL (which is in none of the classes): one pass of the regex engine.
        marked = np.frombuffer(re.sub(pattern, "\0", every).encode("utf-32-le"), dtype="<u4")
        table[points[(marked == 0) & (points != 0)]] |= bit
    return table


@dataclass(frozen=True)
class TokenBatch:
    """The sentences of some documents: ``sentences[i]`` comes from document ``doc[i]`` of the batch."""

    doc: np.ndarray  # int64, the document's index in the batch, non-decreasing
    sentences: pa.ListArray


def tokenize_texts(texts: list[str] | pa.StringArray, settings: TokenizerSettings) -> TokenBatch:
    """The sentences of every text, in order, as :func:`~shardvec.text.tokenize.sentences_from_text` yields them.

    The texts are tokenized from their UTF-8 bytes, in groups of consecutive
    rows (no Python string is made for an ASCII text, and no sentence has to
    be put back in order afterwards); only a non-ASCII text's lowercasing is
    ``str.lower`` per text.
    """
    column = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
    if settings.lowercase:
        column = _lowercase(column)
    lengths = np.diff(string_offsets(column)).astype(np.int64)
    group = np.cumsum(lengths + 1) // _GROUP_BYTES
    cuts = [0, *(np.flatnonzero(group[1:] != group[:-1]) + 1).tolist(), len(lengths)]
    parts = [_sentences(_joined_bytes(column.slice(a, b - a)), lengths[a:b], a, settings)
             for a, b in zip(cuts, cuts[1:]) if b > a]
    if not parts:
        return TokenBatch(np.zeros(0, np.int64), pa.array([], pa.list_(pa.string())))
    return TokenBatch(np.concatenate([p.doc for p in parts]), pa.concat_arrays([p.sentences for p in parts]))


def _lowercase(texts: pa.StringArray) -> pa.StringArray:
    """Each text as ``str.lower`` gives it: Arrow's ``ascii_lower`` (the same on ASCII) for the whole
    column, ``str.lower`` for the non-ASCII texts first (its final-sigma rule needs context, and it may
    lengthen a text: ``İ`` -> ``i`` + U+0307)."""
    other = pc.invert(pc.string_is_ascii(texts))
    if pc.any(other).as_py():
        lowered = [t.lower() for t in texts.filter(other).to_pylist()]
        texts = pc.replace_with_mask(texts, other, pa.array(lowered, pa.string()))
    return pc.ascii_lower(texts)


def _joined_bytes(texts: pa.StringArray) -> np.ndarray:
    """The texts' UTF-8 bytes joined with ``\\n``."""
    return string_bytes(pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(texts)], pa.int32()), texts), "\n"))


def _placeholders(text: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Where each PII placeholder (``<email>``) begins and ends: found by the regular expression, as the
    reference tokenizer's alternation tries them first, and handed to the scan as tokens."""
    found = [match.span() for match in _PLACEHOLDER.finditer(text)] if b"<" in text else []
    bounds = np.array(found, dtype=np.int64).reshape(-1, 2)
    return np.ascontiguousarray(bounds[:, 0]), np.ascontiguousarray(bounds[:, 1])


def _sentences(data: np.ndarray, lengths: np.ndarray, first_doc: int, settings: TokenizerSettings) -> TokenBatch:
    """The sentences of documents (``lengths`` bytes each) joined with ``\\n``, as UTF-8 bytes.

    The compiled scan is imported here, not with this module: the Spark
    workers that never tokenize (dedup's, the phrases') need not pay numba's
    import, nor does the driver.
    """
    from shardvec.text import token_scan

    n = len(data)
    out_bytes = np.empty(n, dtype=np.uint8)
    token_offsets = np.empty(n + 1, dtype=np.int32)  # room for a token per byte: the pages used are the ones paid
    sentence_offsets = np.empty(n + 1, dtype=np.int32)
    sentence_docs = np.empty(n, dtype=np.int64)
    n_bytes, n_tokens, n_pieces = token_scan.scan_sentences(
        data, character_classes(), *_placeholders(data.tobytes()), np.cumsum(lengths + 1) - lengths - 1,
        settings.max_sentence_length, settings.min_sentence_tokens, settings.fold_numbers, out_bytes, token_offsets,
        sentence_offsets, sentence_docs)
    words = pa.StringArray.from_buffers(n_tokens, pa.py_buffer(token_offsets[:n_tokens + 1]),
                                        pa.py_buffer(out_bytes[:n_bytes]))
    return TokenBatch(sentence_docs[:n_pieces] + first_doc,
                      pa.ListArray.from_arrays(pa.array(sentence_offsets[:n_pieces + 1]), words))

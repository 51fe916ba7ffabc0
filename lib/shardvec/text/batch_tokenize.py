"""Sentences of tokens for a whole batch of documents at once: numpy over their code points.

Gives exactly the sentences of :func:`shardvec.text.tokenize.sentences_from_text`
(the per-document reference, which the tests hold it to) without a Python
call per sentence or per token, which made tokenizing the slowest step of
prepare. Why it agrees with the reference:

* each character class (:data:`~shardvec.text.tokenize.WORD`, ``JOIN``,
  ``END``, ``CLOSE``, ``SPACE``, ``DIGIT``) is the reference's own regular
  expression, evaluated once on every code point into a lookup table;
* lowercasing is ``str.lower`` per document, whose final-sigma rule needs
  context (and which may lengthen a text: ``İ`` -> ``i`` + U+0307);
* the documents are joined with ``\\n``, which ends a sentence and is in
  no token, so nothing crosses from one document to the next;
* a token is a run of WORD characters and of JOIN characters with WORD on
  both sides, or a PII placeholder (``<email>``), found as the reference's
  regular expression finds them: no word token can cover a ``<``;
* a sentence ends between two tokens wherever the gap holds a line break,
  or whitespace right after END and any CLOSE characters: the same gaps
  the reference's sentence split cuts, as tokens never hold whitespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
import numpy as np
import pyarrow as pa

from shardvec.text.pii import PLACEHOLDERS
from shardvec.text.tokenize import CLOSE, DIGIT, END, JOIN, SPACE, WORD, TokenizerSettings

_WORD, _JOIN, _END, _CLOSE, _SPACE, _DIGIT = (np.uint8(1 << i) for i in range(6))
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values()))
# Documents are tokenized in groups of about this many code points: numpy's
# temporaries stay a few tens of MB whatever the size of the Arrow batch.
_GROUP_CHARS = 1 << 22


@lru_cache(maxsize=1)
def character_classes() -> np.ndarray:
    """The class bits of every code point (0x110000 of them), from the tokenizer's regular expressions."""
    points = np.concatenate([np.arange(0xD800), np.arange(0xE000, 0x110000)]).astype("<u4")
    every = points.tobytes().decode("utf-32-le")
    table = np.zeros(0x110000, dtype=np.uint8)
    for bit, pattern in ((_WORD, WORD), (_JOIN, JOIN), (_END, END), (_CLOSE, CLOSE), (_SPACE, SPACE),
                         (_DIGIT, DIGIT)):
        # Every member becomes NUL (which is in none of the classes): one pass of the regex engine.
        marked = np.frombuffer(re.sub(pattern, "\0", every).encode("utf-32-le"), dtype="<u4")
        table[points[(marked == 0) & (points != 0)]] |= bit
    return table


@dataclass(frozen=True)
class TokenBatch:
    """The sentences of some documents: sentence ``i`` is ``words[offsets[i]:offsets[i + 1]]`` of ``doc[i]``."""

    doc: np.ndarray  # int64, the document's index in the batch, non-decreasing
    offsets: np.ndarray  # int32, one more than sentences
    words: pa.StringArray

    def sentences(self) -> pa.ListArray:
        return pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()), self.words)


def tokenize_texts(texts: list[str], settings: TokenizerSettings) -> TokenBatch:
    """The sentences of every text, in order, as :func:`~shardvec.text.tokenize.sentences_from_text` yields them."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    group = np.cumsum(lengths + 1) // _GROUP_CHARS
    cuts = [0, *(np.flatnonzero(group[1:] != group[:-1]) + 1).tolist(), len(texts)]
    parts = [_tokenize_group(texts[a:b], lengths[a:b], a, settings) for a, b in zip(cuts, cuts[1:]) if b > a]
    if not parts:
        return TokenBatch(np.zeros(0, np.int64), np.zeros(1, np.int32), pa.array([], pa.string()))
    bases = np.cumsum([0] + [len(p.words) for p in parts[:-1]])
    offsets = np.concatenate([[0]] + [p.offsets[1:] + base for p, base in zip(parts, bases)]).astype(np.int32)
    return TokenBatch(np.concatenate([p.doc for p in parts]), offsets, pa.concat_arrays([p.words for p in parts]))


def _tokenize_group(texts: list[str], lengths: np.ndarray, first_doc: int, settings: TokenizerSettings) -> TokenBatch:
    joined = "\n".join(texts)
    if settings.lowercase:
        lowered = joined.lower()  # the same as each text lowered: no case context crosses a line break
        if len(lowered) != len(joined):  # some text got longer (İ -> i + U+0307): measure the non-ASCII ones again
            changed = [i for i, t in enumerate(texts) if not t.isascii()]
            lengths = lengths.copy()
            lengths[changed] = [len(texts[i].lower()) for i in changed]
        joined = lowered
    code_points = np.frombuffer(joined.encode("utf-32-le"), dtype="<u4")
    classes = character_classes()[code_points]
    n = len(code_points)

    word = (classes & _WORD) != 0
    in_placeholder = placeholder_start = np.zeros(n, dtype=bool)
    if "<" in joined:
        in_placeholder, placeholder_start = in_placeholder.copy(), placeholder_start.copy()
        for match in _PLACEHOLDER.finditer(joined):
            in_placeholder[match.start():match.end()] = True
            placeholder_start[match.start()] = True
        word &= ~in_placeholder
    inner = word.copy()
    join = np.flatnonzero((classes[1:-1] & _JOIN) != 0) + 1
    inner[join[word[join - 1] & word[join + 1]]] = True
    # Tokens are contiguous: a run of inner characters, or a placeholder (which may touch a run).
    in_token = inner | in_placeholder
    starts_here = inner.copy()
    starts_here[1:] &= ~inner[:-1]
    starts_here |= placeholder_start
    ends_here = in_token.copy()
    ends_here[:-1] &= ~in_token[1:] | starts_here[1:]
    starts, token_length = np.flatnonzero(starts_here), np.flatnonzero(ends_here) + 1
    token_length -= starts

    # A sentence ends at a line break, or at whitespace whose last non-CLOSE character before it is END.
    space = np.flatnonzero(((classes[1:] & _SPACE) != 0) & ((classes[:-1] & (_END | _CLOSE)) != 0)) + 1
    lead = space - 1
    while len(lead):
        closing = (lead >= 0) & ((classes[np.maximum(lead, 0)] & _CLOSE) != 0)
        if not closing.any():
            break
        lead = lead - closing
    after_end = space[(lead >= 0) & ((classes[np.maximum(lead, 0)] & _END) != 0)]
    sentence_of_token = (np.searchsorted(np.flatnonzero(code_points == 10), starts, side="right")
                         + np.searchsorted(after_end, starts, side="right"))
    new_sentence = np.ones(len(starts), dtype=bool)
    new_sentence[1:] = sentence_of_token[1:] != sentence_of_token[:-1]
    sentence_first = np.flatnonzero(new_sentence)
    lengths_in_tokens = np.diff(np.append(sentence_first, len(starts)))

    # Long sentences are cut into pieces of max_sentence_length; pieces below min_sentence_tokens are left out.
    step = settings.max_sentence_length
    pieces = -(-lengths_in_tokens // step)
    sentence = np.repeat(np.arange(len(pieces)), pieces)
    k = np.arange(len(sentence)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    piece_start = sentence_first[sentence] + k * step
    piece_length = np.minimum(step, lengths_in_tokens[sentence] - k * step)
    keep = piece_length >= settings.min_sentence_tokens
    kept_token = np.repeat(keep, piece_length)
    piece_start, piece_length = piece_start[keep], piece_length[keep]

    chars = np.flatnonzero(in_token)[np.repeat(kept_token, token_length)]
    token_length = token_length[kept_token]
    out = code_points[chars]
    if settings.fold_numbers:
        out = np.where((classes[chars] & _DIGIT) != 0, np.uint32(ord("0")), out).astype("<u4")
    data = out.tobytes().decode("utf-32-le").encode("utf-8")
    if len(data) == len(out):  # all ASCII: one byte per character
        token_bytes = token_length
    else:
        utf8_length = 1 + (out >= 0x80).astype(np.int64) + (out >= 0x800) + (out >= 0x10000)
        token_bytes = np.add.reduceat(utf8_length, np.cumsum(token_length) - token_length)
    offsets = np.concatenate([[0], np.cumsum(token_bytes, dtype=np.int64)]).astype(np.int32)
    words = pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))

    doc_starts = np.cumsum(lengths + 1) - lengths - 1
    doc = np.searchsorted(doc_starts, starts[piece_start], side="right") - 1 + first_doc
    sentence_offsets = np.concatenate([[0], np.cumsum(piece_length)]).astype(np.int32)
    return TokenBatch(doc.astype(np.int64), sentence_offsets, words)

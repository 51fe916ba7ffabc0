"""Sentences of tokens for a whole batch of documents at once: numpy over their UTF-8 bytes.

Gives exactly the sentences of :func:`shardvec.text.tokenize.sentences_from_text`
(the per-document reference, which the tests hold it to) without a Python
call per sentence or per token, which made tokenizing the slowest step of
prepare. Why it agrees with the reference:

* each character class (:data:`~shardvec.text.tokenize.WORD`, ``JOIN``,
  ``END``, ``CLOSE``, ``SPACE``, ``DIGIT``) is the reference's own regular
  expression, evaluated once on every code point into a lookup table; every
  byte of a character carries the character's class, so a run of bytes of
  one class is a run of characters of it, and a JOIN character looks at the
  bytes just outside it;
* lowercasing is ``str.lower`` per document, whose final-sigma rule needs
  context (and which may lengthen a text: ``İ`` -> ``i`` + U+0307), or on
  ASCII documents Arrow's ``ascii_lower``, which is the same there;
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
import pyarrow.compute as pc

from shardvec.spans import spans
from shardvec.text.arrow_views import kept_bytes, string_bytes, string_offsets
from shardvec.text.pii import PLACEHOLDERS
from shardvec.text.tokenize import CLOSE, DIGIT, END, JOIN, SPACE, WORD, TokenizerSettings

_WORD, _JOIN, _END, _CLOSE, _SPACE, _DIGIT = (np.uint8(1 << i) for i in range(6))
_PLACEHOLDER = re.compile(b"|".join(re.escape(p.encode()) for p in PLACEHOLDERS.values()))
# Documents are tokenized in groups of about this many bytes: numpy's
# temporaries stay a few tens of MB whatever the size of the Arrow batch.
_GROUP_BYTES = 1 << 22


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


@lru_cache(maxsize=1)
def _ascii_classes() -> bytes:
    """The class bits of the 256 byte values, as a ``bytes.translate`` table: right for ASCII bytes (the
    bytes of a wider character are given that character's class by :func:`_byte_classes`)."""
    return character_classes()[:256].tobytes()


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


def _byte_classes(data: np.ndarray, text: bytes) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """The class bits of every byte (each byte of a character gets the character's), and for the characters
    of two bytes or more, where each begins and its length in bytes (None if there is none).

    Their code points are decoded from the bytes with numpy: such characters are few
    in most text, and everything else stays one byte per character.
    """
    classes = np.frombuffer(text.translate(_ascii_classes()), dtype=np.uint8)
    if text.isascii():
        return classes, None
    first = np.flatnonzero(data >= 0xC0)  # lead bytes (valid UTF-8: Arrow strings are)
    lead = data[first].astype(np.uint32)
    width = 2 + (lead >= 0xE0).astype(np.int64) + (lead >= 0xF0)
    last = len(data) - 1

    def tail(k: int) -> np.ndarray:
        return data[np.minimum(first + k, last)].astype(np.uint32) & 0x3F

    points = np.where(width == 2, ((lead & 0x1F) << 6) | tail(1),
                      np.where(width == 3, ((lead & 0x0F) << 12) | (tail(1) << 6) | tail(2),
                               ((lead & 0x07) << 18) | (tail(1) << 12) | (tail(2) << 6) | tail(3)))
    classes = classes.copy()
    classes[spans(first, width)] = np.repeat(character_classes()[points], width)
    return classes, (first, width)


def _tokens(data: np.ndarray, text: bytes, classes: np.ndarray,
            wide: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each token starts, its length in bytes, and which bytes are in a token.

    Each step is a pass of numpy over every byte, the cost of this module, so
    the common case takes few: without a placeholder tokens are exactly the
    runs of word bytes, whose edges are where a byte differs from the one
    before it.
    """
    word = (classes & _WORD).view(bool)  # _WORD is bit 0: the masked bytes are 0 or 1
    placeholders = _placeholders(text)
    if placeholders is not None:
        word = word & ~placeholders[0]
    inner = _joined_words(data, classes, wide, word)
    if placeholders is None:
        if not len(inner):
            return np.zeros(0, np.int64), np.zeros(0, np.int64), inner
        changes = np.empty(len(inner) + 1, dtype=bool)
        changes[0], changes[-1] = inner[0], inner[-1]
        np.not_equal(inner[1:], inner[:-1], out=changes[1:-1])
        edges = np.flatnonzero(changes)  # a run's first byte, then the byte after its last, in turn
        return edges[0::2], edges[1::2] - edges[0::2], inner
    # Tokens are contiguous: a run of inner characters, or a placeholder (which may touch a run).
    in_placeholder, placeholder_start = placeholders
    in_token = inner | in_placeholder
    starts_here = inner.copy()
    starts_here[1:] &= ~inner[:-1]
    starts_here |= placeholder_start
    ends_here = in_token.copy()
    ends_here[:-1] &= ~in_token[1:] | starts_here[1:]
    starts, token_length = np.flatnonzero(starts_here), np.flatnonzero(ends_here) + 1
    return starts, token_length - starts, in_token


def _placeholders(text: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """The bytes of PII placeholders (``<email>``) and where each begins; None when there is none."""
    found = [match.span() for match in _PLACEHOLDER.finditer(text)] if b"<" in text else []
    if not found:
        return None
    in_placeholder, placeholder_start = np.zeros(len(text), dtype=bool), np.zeros(len(text), dtype=bool)
    for start, end in found:
        in_placeholder[start:end] = True
        placeholder_start[start] = True
    return in_placeholder, placeholder_start


def _joined_words(data: np.ndarray, classes: np.ndarray, wide: tuple[np.ndarray, np.ndarray] | None,
                  word: np.ndarray) -> np.ndarray:
    """``word`` plus every JOIN character with WORD on both sides: the bytes just before its first and
    just after its last (JOIN characters are few: found first, then checked)."""
    inner = word.copy()
    n = len(data)
    join = np.flatnonzero((classes[1:-1] & _JOIN) != 0) + 1  # numpy finds True faster than nonzero bytes
    join = join[data[join] < 0x80]
    inner[join[word[join - 1] & word[join + 1]]] = True
    if wide is not None:
        first, width = wide
        joining = (classes[first] & _JOIN) != 0
        join_first, join_width = first[joining], width[joining]
        inside = (join_first > 0) & (join_first + join_width < n)
        join_first, join_width = join_first[inside], join_width[inside]
        joins = word[join_first - 1] & word[join_first + join_width]
        inner[spans(join_first[joins], join_width[joins])] = True
    return inner


def _sentences(data: np.ndarray, lengths: np.ndarray, first_doc: int, settings: TokenizerSettings) -> TokenBatch:
    """The sentences of documents (``lengths`` bytes each) joined with ``\\n``, as UTF-8 bytes."""
    text = data.tobytes()  # the bytes once, for bytes.translate and the placeholders' search
    classes, wide = _byte_classes(data, text)
    starts, token_length, in_token = _tokens(data, text, classes, wide)

    # A sentence ends at a line break, or at whitespace whose last non-CLOSE character before it is END.
    marks = np.flatnonzero((classes[:-1] & (_END | _CLOSE)) != 0)  # few: found first, then checked
    space = marks[(classes[marks + 1] & _SPACE) != 0] + 1
    lead = space - 1
    closing = np.arange(len(lead))  # the leads still on a CLOSE character: walked back one step at a time
    while len(closing):
        closing = closing[(lead[closing] >= 0) & ((classes[np.maximum(lead[closing], 0)] & _CLOSE) != 0)]
        lead[closing] -= 1
    after_end = space[(lead >= 0) & ((classes[np.maximum(lead, 0)] & _END) != 0)]
    # The first token after each break starts a sentence (a break is never inside a token), as does the first.
    after_break = np.searchsorted(starts, np.concatenate([np.flatnonzero(data == 10), after_end]))
    new_sentence = np.zeros(len(starts), dtype=bool)
    new_sentence[after_break[after_break < len(starts)]] = True
    new_sentence[:1] = True
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

    if not kept_token.all():  # clear the bytes of the tokens left out (few: short sentences' ones)
        dropped = np.flatnonzero(~kept_token)
        in_token = in_token.copy()
        in_token[spans(starts[dropped], token_length[dropped])] = False
        token_length = token_length[kept_token]
    values, token_bytes = data, token_length
    if settings.fold_numbers:  # a digit becomes "0": one byte, whatever its own length
        digit = in_token & ((classes & _DIGIT) != 0)
        values = data.copy()
        values[digit & ((data < 0x80) | (data >= 0xC0))] = ord("0")  # an ASCII digit, or a wide one's lead
        in_token = in_token & ~(digit & (data >= 0x80) & (data < 0xC0))  # a wide digit's other bytes
        kept, token_start = np.concatenate([[0], np.cumsum(in_token)]), starts[kept_token]
        token_bytes = kept[token_start + token_length] - kept[token_start]
    offsets = np.concatenate([[0], np.cumsum(token_bytes, dtype=np.int64)]).astype(np.int32)
    words = pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), kept_bytes(values, in_token))

    doc_starts = np.cumsum(lengths + 1) - lengths - 1
    doc = np.searchsorted(doc_starts, starts[piece_start], side="right") - 1 + first_doc
    sentence_offsets = np.concatenate([[0], np.cumsum(piece_length)]).astype(np.int32)
    return TokenBatch(doc.astype(np.int64), pa.ListArray.from_arrays(pa.array(sentence_offsets), words))

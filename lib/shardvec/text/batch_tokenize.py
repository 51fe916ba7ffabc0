"""Sentences of tokens for a whole batch of documents at once: numpy over their code points.

Gives exactly the sentences of :func:`shardvec.text.tokenize.sentences_from_text`
(the per-document reference, which the tests hold it to) without a Python
call per sentence or per token, which made tokenizing the slowest step of
prepare. Why it agrees with the reference:

* each character class (:data:`~shardvec.text.tokenize.WORD`, ``JOIN``,
  ``END``, ``CLOSE``, ``SPACE``, ``DIGIT``) is the reference's own regular
  expression, evaluated once on every code point into a lookup table;
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

from shardvec.text.arrow_views import string_bytes, string_offsets
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


@lru_cache(maxsize=1)
def _ascii_classes() -> bytes:
    """The class bits of the 256 byte values, as a ``bytes.translate`` table (ASCII text is its bytes)."""
    return character_classes()[:256].tobytes()


@dataclass(frozen=True)
class TokenBatch:
    """The sentences of some documents: ``sentences[i]`` comes from document ``doc[i]`` of the batch."""

    doc: np.ndarray  # int64, the document's index in the batch, non-decreasing
    sentences: pa.ListArray


def tokenize_texts(texts: list[str] | pa.StringArray, settings: TokenizerSettings) -> TokenBatch:
    """The sentences of every text, in order, as :func:`~shardvec.text.tokenize.sentences_from_text` yields them.

    ASCII texts are tokenized from the Arrow column's own bytes: no Python
    string is made for them. The others go through ``str.lower`` and UTF-32,
    and their sentences are merged back in document order; both share the
    same numpy passes.
    """
    column = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
    plain = np.asarray(pc.string_is_ascii(column).to_numpy(zero_copy_only=False), dtype=bool)
    parts = [_tokenize_rows(column if len(rows) == len(column) else column.take(pa.array(rows)), rows, ascii_only,
                            settings)
             for rows, ascii_only in ((np.flatnonzero(plain), True), (np.flatnonzero(~plain), False)) if len(rows)]
    if not parts:
        return TokenBatch(np.zeros(0, np.int64), pa.array([], pa.list_(pa.string())))
    if len(parts) == 1:
        return parts[0]
    doc = np.concatenate([p.doc for p in parts])
    order = np.argsort(doc, kind="stable")
    return TokenBatch(doc[order], pa.concat_arrays([p.sentences for p in parts]).take(pa.array(order)))


def _tokenize_rows(texts: pa.StringArray, rows: np.ndarray, ascii_only: bool, settings: TokenizerSettings
                   ) -> TokenBatch:
    """The sentences of ``texts`` (rows ``rows`` of the batch), in groups of about ``_GROUP_CHARS``."""
    if ascii_only:
        lengths = np.diff(string_offsets(texts)).astype(np.int64)
    else:
        strings = texts.to_pylist()
        lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    group = np.cumsum(lengths + 1) // _GROUP_CHARS
    cuts = [0, *(np.flatnonzero(group[1:] != group[:-1]) + 1).tolist(), len(lengths)]
    parts = []
    for a, b in zip(cuts, cuts[1:]):
        if b > a:
            points, group_lengths = (_ascii_points(texts.slice(a, b - a), settings.lowercase) if ascii_only
                                     else _code_points(strings[a:b], lengths[a:b], settings.lowercase))
            parts.append(_sentences(points, group_lengths, a, settings))
    sentences = pa.concat_arrays([p.sentences for p in parts])
    return TokenBatch(rows[np.concatenate([p.doc for p in parts])], sentences)


def _ascii_points(texts: pa.StringArray, lowercase: bool) -> tuple[np.ndarray, np.ndarray]:
    """ASCII texts as bytes joined with ``\\n`` (lowercased: on ASCII, ``ascii_lower`` is ``str.lower``), and
    their lengths."""
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(texts)], pa.int32()), texts), "\n")
    if lowercase:
        joined = pc.ascii_lower(joined)
    return string_bytes(joined), np.diff(string_offsets(texts)).astype(np.int64)



def _code_points(texts: list[str], lengths: np.ndarray, lowercase: bool) -> tuple[np.ndarray, np.ndarray]:
    """Texts joined with ``\\n`` (lowercased by ``str.lower``) as UTF-32 code points, and their lengths."""
    joined = "\n".join(texts)
    if lowercase:
        lowered = joined.lower()  # the same as each text lowered: no case context crosses a line break
        if len(lowered) != len(joined):  # some text got longer (İ -> i + U+0307): measure the non-ASCII ones again
            changed = [i for i, t in enumerate(texts) if not t.isascii()]
            lengths = lengths.copy()
            lengths[changed] = [len(texts[i].lower()) for i in changed]
        joined = lowered
    return np.frombuffer(joined.encode("utf-32-le"), dtype="<u4"), lengths


def _sentences(code_points: np.ndarray, lengths: np.ndarray, first_doc: int, settings: TokenizerSettings
               ) -> TokenBatch:
    """The sentences of documents joined with ``\\n`` as code points (uint8 if all ASCII, else uint32)."""
    classes = (np.frombuffer(code_points.tobytes().translate(_ascii_classes()), dtype=np.uint8)
               if code_points.dtype == np.uint8 else character_classes()[code_points])
    n = len(code_points)

    word = (classes & _WORD) != 0
    in_placeholder = placeholder_start = np.zeros(n, dtype=bool)
    if (code_points == ord("<")).any():
        in_placeholder, placeholder_start = in_placeholder.copy(), placeholder_start.copy()
        text = code_points.tobytes().decode("ascii" if code_points.dtype == np.uint8 else "utf-32-le")
        for match in _PLACEHOLDER.finditer(text):
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
    closing = np.arange(len(lead))  # the leads still on a CLOSE character: walked back one step at a time
    while len(closing):
        closing = closing[(lead[closing] >= 0) & ((classes[np.maximum(lead[closing], 0)] & _CLOSE) != 0)]
        lead[closing] -= 1
    after_end = space[(lead >= 0) & ((classes[np.maximum(lead, 0)] & _END) != 0)]
    # The first token after each break starts a sentence (a break is never inside a token), as does the first.
    after_break = np.searchsorted(starts, np.concatenate([np.flatnonzero(code_points == 10), after_end]))
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

    if not kept_token.all():  # clear the characters of the tokens left out (few: short sentences' ones)
        dropped = np.flatnonzero(~kept_token)
        n_chars = token_length[dropped]
        in_token = in_token.copy()
        first_char = np.cumsum(n_chars) - n_chars  # of each left-out token, among the left-out characters
        in_token[np.repeat(starts[dropped] - first_char, n_chars) + np.arange(n_chars.sum())] = False
        token_length = token_length[kept_token]
    out = code_points[in_token]
    if settings.fold_numbers:
        out = np.where((character_classes()[out] & _DIGIT) != 0, ord("0"), out).astype(out.dtype)
    data = out.tobytes() if out.dtype == np.uint8 else out.tobytes().decode("utf-32-le").encode("utf-8")
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
    return TokenBatch(doc.astype(np.int64), pa.ListArray.from_arrays(pa.array(sentence_offsets), words))

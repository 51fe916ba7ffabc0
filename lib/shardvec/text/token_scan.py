"""One compiled pass over a batch's UTF-8 bytes: tokens, sentence breaks and sentence pieces together.

:mod:`shardvec.text.batch_tokenize` gives it the documents' bytes joined with
``\\n`` and takes back Arrow buffers. Why a compiled loop: the same work as
numpy (word runs, joining characters, sentence ends, the pieces, the kept
bytes) took about twenty passes over every byte and was the slowest step of
prepare; one pass that reads each byte once costs 1.8x less CPU
(``bench/RESULTS.md``, "Prepare: tokens in one compiled pass").

The rules are those of :func:`shardvec.text.tokenize.sentences_from_text`,
whose character classes come in as a table over every code point
(:func:`~shardvec.text.batch_tokenize.character_classes`):

* a token is a PII placeholder (``<email>``, found beforehand: they start
  with ``<``, which no word holds), or a run of WORD characters in which a
  JOIN character is kept where WORD characters are on both its sides;
* a sentence ends at a line break, or at whitespace after END and any
  CLOSE characters; the next token starts a new sentence;
* a sentence is cut into pieces of at most ``max_tokens`` tokens, and a
  piece of fewer than ``min_tokens`` is left out;
* with ``fold_numbers`` each DIGIT character becomes one ``0``.

Compiled on first use (about 1.3 s) and cached on disk (numba's
``cache=True``: beside this file where that is writable, else in the user's
cache directory, or ``NUMBA_CACHE_DIR``), so a later process loads it
instead, in about 0.3 s with numba's import.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# numba reads these as compile-time constants.
from shardvec.text.batch_tokenize import CLOSE_BIT as CLOSE
from shardvec.text.batch_tokenize import DIGIT_BIT as DIGIT
from shardvec.text.batch_tokenize import END_BIT as END
from shardvec.text.batch_tokenize import JOIN_BIT as JOIN
from shardvec.text.batch_tokenize import SPACE_BIT as SPACE
from shardvec.text.batch_tokenize import WORD_BIT as WORD


@njit(cache=True, nogil=True)
def _char(data: np.ndarray, i: int, table: np.ndarray) -> tuple[int, int]:
    """The class bits and the width in bytes of the character at byte ``i``.

    Arrow's strings are valid UTF-8; should a batch not be, a byte that does
    not begin a whole character (cut off at the end, a stray continuation
    byte, a lead byte beyond U+10FFFF) is one byte of no class, and nothing
    is read outside ``data`` or ``table``.
    """
    b = np.int64(data[i])
    if b < 0x80:
        return np.int64(table[b]), 1
    width = 4 if b >= 0xF0 else 3 if b >= 0xE0 else 2 if b >= 0xC0 else 0
    if width == 0 or i + width > len(data):
        return 0, 1
    point = b & (0x07 if width == 4 else 0x0F if width == 3 else 0x1F)
    for k in range(1, width):
        following = np.int64(data[i + k])
        if following & 0xC0 != 0x80:
            return 0, 1
        point = (point << 6) | (following & 0x3F)
    if point >= len(table):
        return 0, 1
    return np.int64(table[point]), width


@njit(cache=True, nogil=True)
def scan_sentences(data: np.ndarray, table: np.ndarray, placeholder_starts: np.ndarray,
                   placeholder_ends: np.ndarray, doc_starts: np.ndarray, max_tokens: int, min_tokens: int,
                   fold_numbers: bool, out_bytes: np.ndarray, token_offsets: np.ndarray,
                   sentence_offsets: np.ndarray, sentence_docs: np.ndarray) -> tuple[int, int, int]:
    """Write the sentence pieces of ``data`` (documents starting at ``doc_starts``) as Arrow buffers:
    the tokens' bytes, their offsets, each piece's offsets into the tokens and its document.

    The outputs need room for ``len(data)`` bytes and tokens (plus one
    offset). Returns how many bytes, tokens and pieces were written.
    """
    n = len(data)
    n_bytes = n_tokens = n_pieces = 0
    piece_first = piece_tokens = piece_doc = 0
    new_sentence, after_end = True, False
    p = d = 0
    token_offsets[0] = sentence_offsets[0] = 0
    i = 0
    while i < n:
        while p < len(placeholder_starts) and placeholder_starts[p] < i:  # inside a token (only if not UTF-8)
            p += 1
        if p < len(placeholder_starts) and i == placeholder_starts[p]:
            start, end = i, placeholder_ends[p]
            p += 1
        else:
            c, width = _char(data, i, table)
            if not c & WORD:
                if c & END:
                    after_end = True
                elif not c & CLOSE:
                    if data[i] == 10 or (c & SPACE and after_end):
                        new_sentence = True
                    after_end = False
                i += width
                continue
            start, end = i, i + width
            while end < n:
                c, width = _char(data, end, table)
                if c & WORD:
                    end += width
                    continue
                if c & JOIN and end + width < n:
                    after, after_width = _char(data, end + width, table)
                    if after & WORD:
                        end += width + after_width
                        continue
                break
        if new_sentence or piece_tokens == max_tokens:  # the piece so far is complete
            n_bytes, n_tokens, n_pieces = _close_piece(n_bytes, n_tokens, n_pieces, piece_first, piece_doc, min_tokens,
                                                       token_offsets, sentence_offsets, sentence_docs)
            while d + 1 < len(doc_starts) and doc_starts[d + 1] <= start:
                d += 1
            piece_first, piece_tokens, piece_doc, new_sentence = n_tokens, 0, d, False
        if fold_numbers:
            k = start
            while k < end:
                c, width = _char(data, k, table)
                if c & DIGIT:
                    out_bytes[n_bytes] = 48  # "0", one byte whatever the digit's width
                    n_bytes += 1
                else:
                    for b in range(k, k + width):
                        out_bytes[n_bytes] = data[b]
                        n_bytes += 1
                k += width
        else:
            for b in range(start, end):
                out_bytes[n_bytes] = data[b]
                n_bytes += 1
        n_tokens += 1
        token_offsets[n_tokens] = n_bytes
        piece_tokens += 1
        after_end = False
        i = end
    return _close_piece(n_bytes, n_tokens, n_pieces, piece_first, piece_doc, min_tokens, token_offsets,
                        sentence_offsets, sentence_docs)


@njit(cache=True, nogil=True)
def _close_piece(n_bytes: int, n_tokens: int, n_pieces: int, piece_first: int, piece_doc: int, min_tokens: int,
                 token_offsets: np.ndarray, sentence_offsets: np.ndarray,
                 sentence_docs: np.ndarray) -> tuple[int, int, int]:
    """The counts once the piece of tokens ``piece_first`` .. ``n_tokens - 1`` is kept, or, with fewer than
    ``min_tokens`` tokens (or none), taken back."""
    length = n_tokens - piece_first
    if length > 0 and length >= min_tokens:
        sentence_offsets[n_pieces + 1] = n_tokens
        sentence_docs[n_pieces] = piece_doc
        return n_bytes, n_tokens, n_pieces + 1
    return token_offsets[piece_first], piece_first, n_pieces

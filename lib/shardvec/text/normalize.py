"""Unicode normalization applied to every document before tokenization."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shardvec.text.arrow_views import kept_bytes, string_bytes, string_offsets
from shardvec.text.mojibake import is_bad

# C0/C1 control characters except tab and newline, plus zero-width and BOM marks.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
# What _SPACES changes in a text with no tab or non-ASCII space: runs of two or more spaces.
_SPACE_RUNS = re.compile(" {2,}")
# On ASCII text, _spaces_and_controls turns each control character and tab into a space (before runs of
# spaces are collapsed): a bytes.translate table.
_ASCII_TO_SPACE = bytes(0x20 if b < 0x20 and b != 0x0A or b == 0x7F else b for b in range(256))


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 read as Latin-1/cp1252 (``donâ€™t`` -> ``don’t``) with ftfy.

    ftfy is only asked about non-ASCII text that its badness heuristic flags:
    ASCII cannot be mojibake, and most text is clean, so the cost stays small.
    The heuristic runs only around the characters mojibake is made of
    (:func:`shardvec.text.mojibake.is_bad`, same answer as ftfy's).
    """
    if text.isascii() or not is_bad(text):
        return text
    import ftfy

    return ftfy.fix_encoding(text)


def normalize_texts(texts: list[str], fix_mojibake: bool = True) -> list[str]:
    """:func:`normalize_text` of each text; ASCII texts skip the mojibake check and NFKC, which cannot
    change them, and only their spaces and controls are looked at."""
    return [_spaces_and_controls(t) if t.isascii() else normalize_text(t, fix_mojibake) for t in texts]


def normalize_text(text: str, fix_mojibake: bool = True) -> str:
    """Repair mojibake, NFKC-normalize, drop control characters and collapse runs of spaces.

    NFKC folds compatibility forms (ligatures, full-width letters) so that the
    same word is one vocabulary entry whatever its encoding history.
    """
    if fix_mojibake:
        text = repair_mojibake(text)
    return _spaces_and_controls(unicodedata.normalize("NFKC", text))


def tidy_ascii(texts: pa.StringArray) -> pa.StringArray:
    """:func:`_spaces_and_controls` of every text, right for the ASCII ones: numpy over the batch's bytes.

    Why not a regular expression per text: most lines are short, and Arrow's
    per-row regex cost more than the work (half the lines of real text hold two
    spaces in a row somewhere). Here the whole data buffer is translated once
    (controls and tabs to spaces) and every space that follows a space is
    dropped; only spaces and line breaks can then be whitespace at the edges,
    so trimming those is ``str.strip``.
    """
    offsets, data = string_offsets(texts), string_bytes(texts)
    raw = data.tobytes()
    spaced_bytes = raw.translate(_ASCII_TO_SPACE)
    spaced = np.frombuffer(spaced_bytes, dtype=np.uint8)
    space = spaced == 0x20
    # (A text's first byte may count as repeating the text before it: a leading space, trimmed either way.)
    repeat = np.zeros(len(spaced), dtype=bool)
    np.logical_and(space[1:], space[:-1], out=repeat[1:])
    if spaced_bytes != raw or repeat.any():
        starts = offsets - offsets[0]
        dropped_before = np.searchsorted(np.flatnonzero(repeat), starts)
        tidy = pa.StringArray.from_buffers(len(texts), pa.py_buffer((starts - dropped_before).astype(np.int32)),
                                           kept_bytes(spaced, ~repeat))
        texts = tidy if texts.null_count == 0 else pc.if_else(texts.is_valid(), tidy, pa.scalar(None, pa.string()))
    return pc.utf8_trim(texts, " \n")


def _spaces_and_controls(text: str) -> str:
    """Control and zero-width characters to spaces, runs of spaces to one, the edges stripped."""
    stripped = text.strip()
    # Fast path, same result: a text that is printable but for its line breaks holds
    # no control, zero-width, tab or non-ASCII space character, so only runs of spaces
    # can change. (Spaces and controls at the edges are stripped either way.)
    if (stripped if "\n" not in stripped else stripped.replace("\n", "")).isprintable():
        return _SPACE_RUNS.sub(" ", stripped) if "  " in stripped else stripped
    text = _CONTROL.sub(" ", text)
    return _SPACES.sub(" ", text).strip()

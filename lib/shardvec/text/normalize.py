"""Unicode normalization applied to every document before tokenization."""

from __future__ import annotations

import re
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

from shardvec.text.mojibake import is_bad

# C0/C1 control characters except tab and newline, plus zero-width and BOM marks.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
# What _SPACES changes in a text with no tab or non-ASCII space: runs of two or more spaces.
_SPACE_RUNS = re.compile(" {2,}")
# What _spaces_and_controls changes in an ASCII text besides its edges: a control character, a tab or two
# spaces in a row (RE2 patterns, for Arrow); a run of spaces and tabs that is not one space.
_ASCII_MESSY = "[\\x00-\\x08\\x0b-\\x1f\\x7f\\t]|  "
_ASCII_CONTROL = "[\\x00-\\x08\\x0b-\\x1f\\x7f]"
_ASCII_SPACES = "[ \\t]*\\t[ \\t]*| {2,}"


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
    """:func:`_spaces_and_controls` of every text, right for the ASCII ones: Arrow kernels over the batch.

    Only the texts with something to tidy go through the two replacements;
    after them only spaces and line breaks can be whitespace at the edges,
    so trimming those is ``str.strip``.
    """
    messy = pc.match_substring_regex(texts, _ASCII_MESSY)
    if pc.any(messy).as_py():
        tidy = pc.replace_substring_regex(pc.replace_substring_regex(texts.filter(messy), _ASCII_CONTROL, " "),
                                          _ASCII_SPACES, " ")
        texts = pc.replace_with_mask(texts, messy, tidy)
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

"""Unicode normalization applied to every document before tokenization."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 control characters except tab and newline, plus zero-width and BOM marks.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")


def normalize_text(text: str) -> str:
    """NFKC-normalize, drop control characters and collapse runs of spaces.

    NFKC folds compatibility forms (ligatures, full-width letters) so that the
    same word is one vocabulary entry whatever its encoding history.
    """
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text)
    return _SPACES.sub(" ", text).strip()

"""Regular-expression character classes built from a per-character predicate of Python's own.

A class such as "every letter" (``str.isalpha``) or "every combining mark"
(``unicodedata.combining``) lets one regex pass over a text replace a Python
test per character, with exactly the predicate's answer: the class lists, as
ranges, every code point for which the predicate holds in this Python.

Only the Basic Multilingual Plane: Python's regex engine tests a class with
code points above U+FFFF range by range (slower than the Python loop it
replaces), but one within the BMP as a bitmap. A text with a character
beyond it (:data:`ASTRAL` finds one; emoji are the common case) takes the
per-character path instead.
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np

ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_BMP = 0x10000


def bmp_ranges(predicate: Callable[[str], object]) -> str:
    """The inside of a ``[...]`` class: ``a-b`` ranges of every BMP code point where ``predicate`` is true."""
    hits = np.fromiter(map(bool, map(predicate, map(chr, range(_BMP)))), dtype=bool, count=_BMP)
    edges = np.flatnonzero(np.diff(np.concatenate([[False], hits, [False]]).astype(np.int8)))
    return "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi - 1))}" for lo, hi in zip(edges[::2], edges[1::2]))

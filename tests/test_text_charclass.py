"""Character classes from Python's own predicates, and the dedup normalization that uses one."""

from __future__ import annotations

import random
import re
import unicodedata

from shardvec.text.charclass import ASTRAL, bmp_ranges
from shardvec.text.dedup import normalize_for_hash


def test_bmp_class_is_the_predicate_on_every_bmp_character() -> None:
    letters = re.compile(f"[{bmp_ranges(str.isalpha)}]")
    every = "".join(chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000)
    matched = {m.start() for m in letters.finditer(every)}
    assert matched == {i for i, c in enumerate(every) if c.isalpha()}
    assert ASTRAL.search("plain \uffff") is None and ASTRAL.search("emoji 🐍")


def _reference(text: str) -> str:
    """CCNet-style normalization, one character at a time."""
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"\d", "0", re.sub(r"[^\w\s]|_", " ", text))
    return re.sub(r"\s+", " ", text).strip()


def test_normalize_for_hash_equals_the_per_character_reference() -> None:
    pieces = list("aé É\u0301\u0308ǅ1٣_.-") + ["naïve", "Ångström", "ΟΔΟΣ", "İ", "ﬁ", "한국어", "\u0e34", "🐍",
                                                "\U0001d167", "𝐀"]
    rng = random.Random(2)
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 30)))
        assert normalize_for_hash(text) == _reference(text), repr(text)

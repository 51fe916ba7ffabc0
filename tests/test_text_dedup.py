"""The pure dedup and phrase functions (no Spark)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from prepare_helpers import prose, random_text
from prepare_reference import (components_by_search, count_ngrams, estimated_jaccard, phrases_from_counts,
                               representative_order)

from shardvec.text import dedup
from shardvec.text.dedup import (_PRIME, _Folds, _permutations, _universal_hashes, band_keys, exact_key, hash64,
                                 line_keys, lsh_params, minhash, minhashes, normalize_for_hash, remove_lines,
                                 shingle_hashes, smallest_members)
from shardvec.text.phrases import join_phrases, phrase_score


def test_exact_key_ignores_case_punctuation_accents_and_digits() -> None:
    assert normalize_for_hash("Café, 2024!  Déjà-vu") == "cafe 0000 deja vu"
    assert exact_key("Hello, World 1999.") == exact_key("hello world 2000") != exact_key("hello there world")
    assert line_keys("a line\n\n--\nA LINE!")[0] == line_keys("A line.")[0]
    assert line_keys("x\n--")[1] is None
    assert remove_lines("one\ntwo\nthree", {1}) == "one\nthree"


def test_normalization_for_hashes_folds_every_character_as_the_rules_say() -> None:
    """The translation table against the rules written as regex passes: on every code point, then on whole texts
    (accents stripped and spaces collapsed around it)."""
    import re
    import unicodedata

    every = "".join(map(chr, range(0x110000)))
    assert every.translate(_Folds()) == re.sub(r"\d", "0", re.sub(r"[^\w\s]|_", " ", every))
    assert re.findall(r"\s", every) == [c for c in every if c.isspace()]  # str.split's spaces are the regex's

    def by_rules(text: str) -> str:
        text = text.lower()
        if not text.isascii():
            text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
        text = re.sub(r"\d", "0", re.sub(r"[^\w\s]|_", " ", text))
        return re.sub(r"\s+", " ", text).strip()

    rng = np.random.default_rng(11)
    pools = [range(128), range(0x80, 0x3000), range(0x4E00, 0x4F00), range(0xFF00, 0xFF60), range(0x1F300, 0x1F700)]
    for pool in pools * 10:
        chars = [chr(c) for c in rng.choice(list(pool), size=200)] + list(" \t\n\x1c\x85\u00a0\u2003_9\u0663")
        text = "".join(rng.permutation(chars))
        assert normalize_for_hash(text) == by_rules(text)
    mixed = "Ünïcödé  ＡＢ１２ Straße\u0130!"
    assert normalize_for_hash(mixed) == by_rules(mixed)


def test_minhash_estimates_jaccard_and_is_deterministic() -> None:
    base = prose(30, seed=1)
    near = base + " One extra closing sentence."
    other = prose(30, seed=2) + " Completely different ending of the text here."
    sig = minhash(base, 128, 5)
    assert np.array_equal(sig, minhash(base, 128, 5)) and sig.dtype == np.int64 and sig.max() < 2 ** 32
    assert estimated_jaccard(sig, minhash(near, 128, 5)) > 0.8
    assert estimated_jaccard(sig, minhash("nothing in common at all with it", 128, 5)) < 0.1
    bands, rows = lsh_params(0.8, 128)
    keys = band_keys(np.stack([sig, minhash(near, 128, 5)]), bands, rows)
    assert bands * rows <= 128 and keys.shape == (2, bands) and keys.dtype == np.int64
    assert set(keys[0]) & set(keys[1])
    assert keys[0, 1] == hash64(sig[rows:2 * rows].tobytes().hex())  # a band's key: its values' bytes in hex
    assert lsh_params(0.5, 128)[1] < lsh_params(0.9, 128)[1]  # a stricter threshold needs longer bands
    assert other != base


def test_minhash_without_division_gives_the_remainders(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _permutations(128, 1)
    p = int(_PRIME)
    edges = [0, 1, 4, 5, 6, p - 1, p, 2 ** 32 - 2, 2 ** 32 - 1]
    zeros = [(-int(b_) * pow(int(a_), -1, p)) % p for a_, b_ in zip(a, b)]  # each permutation's remainder 0
    x = np.concatenate([np.array(edges + zeros, dtype=np.uint64),
                        np.random.default_rng(7).integers(0, 2 ** 32, size=5000, dtype=np.uint64)])
    assert (np.diag(_universal_hashes(np.array(zeros, dtype=np.uint64), a, b)) == 0).all()
    extremes = np.array([1, 2 ** 32 - 1], dtype=np.uint64)  # a, b at their ends: the largest products
    for a_, b_ in ((a, b), (extremes, extremes[::-1])):
        assert np.array_equal(_universal_hashes(x, a_, b_), (x[:, None] * a_ + b_) % _PRIME)

    def by_formula(texts: list[str]) -> np.ndarray:
        return np.stack([((shingle_hashes(t, 5)[:, None] * a + b) % _PRIME).min(axis=0).astype(np.int64)
                         for t in texts])

    # Texts of one to thousands of shingles, together: short ones share blocks, long ones span several, and
    # texts of exactly one block (512 shingles) and one more, after short ones and first.
    words = ["".join(letters) for letters in itertools.product("abcdefgh", repeat=4)]  # no digits: all distinct
    block, over = " ".join(words[:516]), " ".join(words[:517])
    assert [len(shingle_hashes(t, 5)) for t in (block, over)] == [512, 513]
    texts = [random_text(n, seed=n) for n in (3000, 1, 4, 700, 2, 9, 600, 40)] + [""] + [prose(20, seed=3)] * 30
    texts += ["a b", block, "c d", over, block, block]
    assert len(shingle_hashes(texts[0], 5)) > 1000
    assert np.array_equal(minhashes(texts, 128, 5), by_formula(texts))
    assert np.array_equal(minhashes([block, "x", over], 128, 5), by_formula([block, "x", over]))
    assert np.array_equal(minhash(texts[0], 128, 5), by_formula(texts[:1])[0])
    assert minhashes([], 128, 5).shape == (0, 128)
    rng = np.random.default_rng(3)
    short = [random_text(int(n), seed=int(n)) for n in rng.integers(1, 12, size=60)]
    for size in (1, 2, 3, 5):  # blocks that end on and between texts' ends
        monkeypatch.setattr(dedup, "_BLOCK", size)
        assert np.array_equal(minhashes(short, 128, 5), by_formula(short))


def test_components_and_representative_rule() -> None:
    comps = smallest_members(["c", "b", "d", "e"], ["b", "a", "e", "e"])  # a loop (e, e) changes nothing
    assert comps == {"a": "a", "b": "a", "c": "a", "d": "d", "e": "d"}
    rng = np.random.default_rng(5)
    edges = [(f"n{a}", f"n{b}") for a, b in rng.integers(0, 300, size=(250, 2))]
    assert smallest_members(*zip(*edges)) == components_by_search(edges)
    group = [(10, "z"), (12, "y"), (12, "x")]
    assert min(group, key=lambda g: representative_order(*g)) == (12, "x")


def test_word2phrase_scoring_and_joining() -> None:
    sentences = [["i", "love", "new", "york"]] * 10 + [["new", "ideas"], ["york", "minster"]] * 2 + [["a", "b"]] * 30
    unigrams, bigrams = count_ngrams(sentences)
    assert unigrams["new"] == 12 and bigrams[("new", "york")] == 10
    total = sum(unigrams.values())
    assert phrase_score(12, 12, 10, total, 5) == (10 - 5) / 144 * total
    phrases = phrases_from_counts(unigrams, bigrams, threshold=3.0, min_count=5)  # new york: 3.75
    assert ("new", "york") in phrases and ("new", "ideas") not in phrases
    assert join_phrases(["i", "love", "new", "york", "new", "york"], {("new", "york")}) == [
        "i", "love", "new_york", "new_york"]
    assert join_phrases(["a", "a", "a"], {("a", "a")}) == ["a_a", "a"]  # a token joins once per pass

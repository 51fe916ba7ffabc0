"""The pure dedup and phrase functions (no Spark)."""

from __future__ import annotations


import numpy as np
from prepare_helpers import prose, random_text
from prepare_reference import (components_by_search, count_ngrams, estimated_jaccard, phrases_from_counts,
                               representative_order)

from shardvec.text.dedup import (_PRIME, _permutations, _universal_hashes, band_keys, exact_key, hash64, line_keys,
                                 lsh_params, minhash, minhashes, normalize_for_hash, remove_lines, shingle_hashes,
                                 smallest_members)
from shardvec.text.phrases import join_phrases, phrase_score


def test_exact_key_ignores_case_punctuation_accents_and_digits() -> None:
    assert normalize_for_hash("Café, 2024!  Déjà-vu") == "cafe 0000 deja vu"
    assert exact_key("Hello, World 1999.") == exact_key("hello world 2000") != exact_key("hello there world")
    assert line_keys("a line\n\n--\nA LINE!")[0] == line_keys("A line.")[0]
    assert line_keys("x\n--")[1] is None
    assert remove_lines("one\ntwo\nthree", {1}) == "one\nthree"


def test_normalization_for_hashes_folds_every_character_as_the_rules_say() -> None:
    """One translation table against the rules written as regex passes, on text of every kind of character."""
    import re
    import unicodedata

    def by_rules(text: str) -> str:
        text = text.lower()
        if not text.isascii():
            text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
        text = re.sub(r"\d", "0", re.sub(r"[^\w\s]|_", " ", text))
        return re.sub(r"\s+", " ", text).strip()

    rng = np.random.default_rng(11)
    pools = [range(128), range(0x80, 0x3000), range(0x1F300, 0x1F700), range(0x10000, 0x10400)]
    for pool in pools * 50:
        chars = [chr(c) for c in rng.choice(list(pool), size=200)] + list(" \t\n\x1c\x85\u00a0\u2003_9\u0663")
        text = "".join(rng.permutation(chars))
        assert normalize_for_hash(text) == by_rules(text)
    assert normalize_for_hash("Ünïcödé  ＡＢ１２ Straße\u0130!") == by_rules("Ünïcödé  ＡＢ１２ Straße\u0130!")


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


def test_minhash_without_division_gives_the_remainders() -> None:
    a, b = _permutations(128, 1)
    edges = [0, 1, 4, 5, 6, int(_PRIME) - 1, int(_PRIME), 2 ** 32 - 2, 2 ** 32 - 1]
    x = np.concatenate([np.array(edges, dtype=np.uint64),
                        np.random.default_rng(7).integers(0, 2 ** 32, size=5000, dtype=np.uint64)])
    extremes = np.array([1, 2 ** 32 - 1], dtype=np.uint64)  # a, b at their ends: the largest products
    for a_, b_ in ((a, b), (extremes, extremes[::-1])):
        assert np.array_equal(_universal_hashes(x, a_, b_), (x[:, None] * a_ + b_) % _PRIME)
    # Texts of one to thousands of shingles, together: short ones share blocks, long ones span several.
    texts = [random_text(n, seed=n) for n in (3000, 1, 4, 700, 2, 9, 600, 40)] + [""] + [prose(20, seed=3)] * 30
    assert len(shingle_hashes(texts[0], 5)) > 1000
    expected = [((shingle_hashes(t, 5)[:, None] * a + b) % _PRIME).min(axis=0).astype(np.int64) for t in texts]
    assert np.array_equal(minhashes(texts, 128, 5), np.stack(expected))
    assert np.array_equal(minhash(texts[0], 128, 5), expected[0]) and minhashes([], 128, 5).shape == (0, 128)


def test_components_and_representative_rule() -> None:
    comps = smallest_members(["c", "b", "d", "e"], ["b", "a", "e", "e"])  # a loop (e, e) is its own component
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

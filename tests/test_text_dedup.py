"""The pure dedup and phrase functions (no Spark)."""

from __future__ import annotations


import numpy as np
from prepare_helpers import prose
from prepare_reference import (components_by_search, count_ngrams, estimated_jaccard, phrases_from_counts,
                               representative_order)

from shardvec.text.dedup import (band_keys, exact_key, line_keys, lsh_params, minhash, normalize_for_hash,
                                 remove_lines, smallest_members)
from shardvec.text.phrases import join_phrases, phrase_score


def test_exact_key_ignores_case_punctuation_accents_and_digits() -> None:
    assert normalize_for_hash("Café, 2024!  Déjà-vu") == "cafe 0000 deja vu"
    assert exact_key("Hello, World 1999.") == exact_key("hello world 2000") != exact_key("hello there world")
    assert line_keys("a line\n\n--\nA LINE!")[0] == line_keys("A line.")[0]
    assert line_keys("x\n--")[1] is None
    assert remove_lines("one\ntwo\nthree", {1}) == "one\nthree"


def test_minhash_estimates_jaccard_and_is_deterministic() -> None:
    base = prose(30, seed=1)
    near = base + " One extra closing sentence."
    other = prose(30, seed=2) + " Completely different ending of the text here."
    sig = minhash(base, 128, 5)
    assert np.array_equal(sig, minhash(base, 128, 5)) and sig.dtype == np.int64 and sig.max() < 2 ** 32
    assert estimated_jaccard(sig, minhash(near, 128, 5)) > 0.8
    assert estimated_jaccard(sig, minhash("nothing in common at all with it", 128, 5)) < 0.1
    bands, rows = lsh_params(0.8, 128)
    assert bands * rows <= 128 and len(band_keys(sig, bands, rows)) == bands
    assert set(band_keys(sig, bands, rows)) & set(band_keys(minhash(near, 128, 5), bands, rows))
    assert lsh_params(0.5, 128)[1] < lsh_params(0.9, 128)[1]  # a stricter threshold needs longer bands
    assert other != base


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

"""Sparse lexical features: what a bag of words, or a feature-based tagger, sees.

Pretrained vectors know which words are alike; they forget which exact words
and word pairs a document holds, which is what a classical model lives on when
labels are plentiful. These features give the classifier that second view, as
a part beside the dense one, and they are the input of the TF-IDF + logistic
regression baseline, so the two see the same words.

* Documents: word n-grams up to ``ngrams`` (``finetune.lexical_ngrams``; 2 adds
  bigrams, as fastText's ``wordNgrams``), TF-IDF weighted with sublinear term frequency
  and rows of unit length: scikit-learn's ``TfidfVectorizer``, the field's
  standard.
* Tokens: the identity and the shape of each word in a window around the
  token, and the token's prefixes and suffixes, binary, rows of unit length.
  Shapes keep what the vectors drop: capitals, digits, punctuation, hyphens.

The vocabulary and the IDF come from the training split's texts only (no
labels: the same unlabelled text that ``adapt`` reads), so one matrix serves
every setting, budget and repeat of a report. N-grams are kept exactly, not
hashed: only those the training texts hold get a column, so the matrix costs
what the data holds, whatever ``ngrams`` is.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import scipy.sparse as sp

_AFFIXES = 3  # prefixes and suffixes of 1 to 3 characters
_RUNS = re.compile(r"(.)\1+")


def ngram_terms(doc: Sequence[str], ngrams: int) -> list[str]:
    """The document's words and its word n-grams up to ``ngrams`` (joined by a space)."""
    terms = list(doc)
    for n in range(2, ngrams + 1):
        terms += [" ".join(doc[i:i + n]) for i in range(len(doc) - n + 1)]
    return terms


def shape(token: str) -> str:
    """``Xx``, ``x``, ``X``, ``d``, ``d,d``, ``x-x``, ``.``: letter case, digits and other characters,
    repeats collapsed."""
    mapped = "".join("X" if c.isupper() else "x" if c.isalpha() else "d" if c.isdigit() else c for c in token)
    return _RUNS.sub(r"\1", mapped)


def token_terms(words: Sequence[str], raw: Sequence[str], window: int) -> list[list[str]]:
    """Features of every token of a sentence: words and shapes in the window, affixes of the token.

    ``words`` are the normalised tokens (what the vectors are keyed by),
    ``raw`` the tokens as written (their shapes keep the capitals).
    """
    n = len(words)
    out = []
    for i, word in enumerate(words):
        terms = [f"w={word}", f"s={shape(raw[i])}"]
        terms += [f"p{k}={word[:k]}" for k in range(1, _AFFIXES + 1) if len(word) > k]
        terms += [f"x{k}={word[-k:]}" for k in range(1, _AFFIXES + 1) if len(word) > k]
        for offset in range(-window, window + 1):
            j = i + offset
            if offset and 0 <= j < n:
                terms += [f"w{offset}={words[j]}", f"s{offset}={shape(raw[j])}"]
            elif offset:
                terms.append(f"w{offset}=<edge>")
        out.append(terms)
    return out


def lexical_matrix(terms: list[list[str]], fit_on: np.ndarray, tfidf: bool) -> sp.csr_matrix:
    """Rows of unit length for every example's terms; vocabulary (and IDF) from the examples ``fit_on``.

    ``tfidf``: sublinear TF-IDF weights (documents); otherwise binary (token features).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer=_identity, lowercase=False, sublinear_tf=tfidf, use_idf=tfidf,
                                 binary=not tfidf, norm="l2", dtype=np.float32)
    try:
        vectorizer.fit([terms[i] for i in fit_on])
    except ValueError:  # the training examples hold no term at all
        return sp.csr_matrix((len(terms), 0), dtype=np.float32)
    return sp.csr_matrix(vectorizer.transform(terms), dtype=np.float32)


def _identity(terms: list[str]) -> list[str]:
    return terms

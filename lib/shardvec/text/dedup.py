"""Pure pieces of deduplication: normalization, hashes, MinHash, LSH banding.

Exact duplicates share :func:`exact_key` (a hash of the CCNet-style
normalized text); near duplicates share LSH band keys of their MinHash
signatures and then an estimated Jaccard similarity above the threshold.
Spark distributes these functions (:mod:`shardvec.spark.dedup`, which also
keeps the longest document of each group of duplicates, ties broken by the
smallest id); tests and the single-process benchmark call them directly.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Iterable

import numpy as np
import xxhash

from shardvec.text.charclass import ASTRAL, bmp_ranges

_PUNCT = re.compile(r"[^\w\s]|_")
_DIGIT = re.compile(r"\d")
_SPACE = re.compile(r"\s+")
# MinHash arithmetic stays in uint64 without overflow: a, b, x < 2**32.
_PRIME = np.uint64(4294967291)  # the largest prime below 2**32


@lru_cache(maxsize=1)
def _combining() -> re.Pattern[str]:
    """Every BMP character with a nonzero combining class (``unicodedata.combining``): removing them is one
    regex pass instead of a Python test per character."""
    return re.compile(f"[{bmp_ranges(unicodedata.combining)}]")


def normalize_for_hash(text: str) -> str:
    """Lowercase, strip accents and punctuation, digits to 0, one space between words (as CCNet)."""
    text = text.lower()
    if not text.isascii():  # ASCII has nothing to decompose
        text = unicodedata.normalize("NFD", text)
        if ASTRAL.search(text):
            text = "".join(c for c in text if not unicodedata.combining(c))
        else:
            text = _combining().sub("", text)
    text = _DIGIT.sub("0", _PUNCT.sub(" ", text))
    return _SPACE.sub(" ", text).strip()


def hash64(text: str) -> int:
    """xxHash64 as a signed 64-bit integer, Spark's ``long``."""
    value = xxhash.xxh64_intdigest(text.encode("utf-8"))
    return value - (1 << 64) if value >= (1 << 63) else value


def exact_key(text: str) -> int:
    return hash64(normalize_for_hash(text))


def line_keys(text: str) -> list[int | None]:
    """One key per line (paragraph) of ``text``; None for lines with no words, never deduplicated."""
    keys: list[int | None] = []
    for line in text.split("\n"):
        norm = normalize_for_hash(line)
        keys.append(hash64(norm) if norm else None)
    return keys


def remove_lines(text: str, drop: set[int]) -> str:
    """``text`` without the lines whose (0-based) index is in ``drop``."""
    return "\n".join(line for i, line in enumerate(text.split("\n")) if i not in drop).strip()


def shingle_hashes(text: str, ngram: int) -> np.ndarray:
    """32-bit hashes of the word ``ngram``-grams of the normalized text (one shingle if shorter)."""
    words = normalize_for_hash(text).split()
    grams = {" ".join(words[i:i + ngram]) for i in range(max(1, len(words) - ngram + 1))}
    return np.fromiter((xxhash.xxh32_intdigest(g.encode("utf-8")) for g in grams), dtype=np.uint64, count=len(grams))


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, int(_PRIME), size=num_perm, dtype=np.uint64)
    b = rng.integers(0, int(_PRIME), size=num_perm, dtype=np.uint64)
    return a, b


def minhash(text: str, num_perm: int, ngram: int, seed: int = 1) -> np.ndarray:
    """The MinHash signature (``num_perm`` values < 2**32, as int64) of the text's shingles."""
    a, b = _permutations(num_perm, seed)
    x = shingle_hashes(text, ngram)[:, None]
    return ((x * a + b) % _PRIME).min(axis=0).astype(np.int64)


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[int]:
    """One hash per LSH band; two documents are candidates if any band's key is equal."""
    return [hash64(signature[i * rows:(i + 1) * rows].tobytes().hex()) for i in range(bands)]


def smallest_members(src: Iterable[str], dst: Iterable[str]) -> dict[str, str]:
    """Every node of the edges (``src[i]``, ``dst[i]``) -> the smallest node of its connected component.

    Union-find whose roots are always their set's smallest member (the
    smaller root adopts the other), with path halving: near dedup's
    components on one machine when the graph is small enough to collect.
    """
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while (up := parent.setdefault(node, node)) != node:
            parent[node] = node = parent[up]
        return node

    for a, b in zip(src, dst):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {node: root(node) for node in parent}


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm that minimize false positives plus false negatives.

    A pair of Jaccard similarity s becomes a candidate with probability
    1 - (1 - s**rows)**bands; the best split puts that S-curve's step at the
    threshold (datasketch's rule, equal weights).
    """
    s = np.linspace(0.0, 1.0, 201)
    best, best_err = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        rows = num_perm // bands
        p = 1.0 - (1.0 - s ** rows) ** bands
        err = float(np.trapezoid(np.where(s < threshold, p, 1.0 - p), s))
        if err < best_err:
            best, best_err = (bands, rows), err
    return best


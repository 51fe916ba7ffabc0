"""Pure pieces of deduplication: normalization, hashes, MinHash, LSH banding.

Exact duplicates share :func:`exact_key` (a hash of the CCNet-style
normalized text); near duplicates share LSH band keys of their MinHash
signatures and then an estimated Jaccard similarity above the threshold.
Spark distributes these functions (:mod:`shardvec.spark.dedup`, which also
keeps the longest document of each group of duplicates, ties broken by the
smallest id); tests and the single-process benchmark call them directly.
"""

from __future__ import annotations

import binascii
import re
import unicodedata
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np
import xxhash

from shardvec.text.charclass import ASTRAL, bmp_ranges

_PUNCT = re.compile(r"[^\w\s]|_")
_DIGIT = re.compile(r"\d")
# MinHash arithmetic stays in uint64 without overflow: a, b, x < 2**32.
_PRIME = np.uint64(4294967291)  # the largest prime below 2**32


@lru_cache(maxsize=1)
def _combining() -> re.Pattern[str]:
    """Every BMP character with a nonzero combining class (``unicodedata.combining``): removing them is one
    regex pass instead of a Python test per character."""
    return re.compile(f"[{bmp_ranges(unicodedata.combining)}]")


class _Folds(dict[int, str]):
    """Character -> what :func:`normalize_for_hash`'s punctuation and digit rules make of it, filled as
    characters are met: ``str.translate`` with it is one pass where the rules' regexes were two."""

    def __missing__(self, char: int) -> str:
        folded = self[char] = _DIGIT.sub("0", _PUNCT.sub(" ", chr(char)))
        return folded


_FOLDS = _Folds()


def normalize_for_hash(text: str) -> str:
    """Lowercase, strip accents and punctuation, digits to 0, one space between words (as CCNet)."""
    text = text.lower()
    if not text.isascii():  # ASCII has nothing to decompose
        text = unicodedata.normalize("NFD", text)
        if ASTRAL.search(text):
            text = "".join(c for c in text if not unicodedata.combining(c))
        else:
            text = _combining().sub("", text)
    return " ".join(text.translate(_FOLDS).split())  # str.split's spaces are the regex's \s


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


def minhashes(texts: Sequence[str], num_perm: int, ngram: int, seed: int = 1) -> np.ndarray:
    """The MinHash signatures (one row of ``num_perm`` values < 2**32 per text, as int64) of the texts' shingles.

    The shingles of consecutive short texts go through the arithmetic
    together, a block at a time, each text's minimum taken by
    ``np.minimum.reduceat``: one set of numpy calls per block, not per text
    (one-line documents have a few shingles each).
    """
    a, b = _permutations(num_perm, seed)
    hashes = [shingle_hashes(text, ngram) for text in texts]  # never empty: a text has at least one shingle
    lengths = np.fromiter(map(len, hashes), dtype=np.int64, count=len(hashes))
    flat = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
    del hashes  # a batch's shingles once, not twice, through the arithmetic
    ends = np.cumsum(lengths)
    starts = ends - lengths
    signatures = np.empty((len(texts), num_perm), dtype=np.uint64)
    first = 0
    while first < len(texts):
        if ends[first] - starts[first] > _BLOCK:  # a long text: its own blocks
            signature = signatures[first]
            signature.fill(_PRIME)
            for start in range(starts[first], ends[first], _BLOCK):
                block = flat[start:min(start + _BLOCK, ends[first])]
                np.minimum(signature, _universal_hashes(block, a, b).min(axis=0), out=signature)
            first += 1
            continue
        stop = int(np.searchsorted(ends, starts[first] + _BLOCK, side="right"))  # the texts that end in the block
        block = _universal_hashes(flat[starts[first]:ends[stop - 1]], a, b)
        signatures[first:stop] = np.minimum.reduceat(block, starts[first:stop] - starts[first], axis=0)
        first = stop
    return signatures.astype(np.int64)


def minhash(text: str, num_perm: int, ngram: int, seed: int = 1) -> np.ndarray:
    """The MinHash signature of one text (:func:`minhashes`)."""
    return minhashes([text], num_perm, ngram, seed)[0]


_BLOCK = 512  # shingles at a time: their (block, num_perm) hashes stay in the CPU's cache through every pass
_LOW = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
_FOLD = np.uint64(2 ** 32 - int(_PRIME))  # 2**32 = _FOLD (mod _PRIME)


def _universal_hashes(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(x * a + b) % _PRIME`` for every shingle (row) and permutation (column), without a division.

    A 64-bit remainder is numpy's slowest integer operation (no SIMD);
    with 2**32 = 5 (mod p), ``y = hi * 2**32 + lo = hi * 5 + lo``: two
    such folds bring any y < 2**64 below p + 30, and one conditional
    subtraction below p: the same values, in half the time on web pages'
    shingles (bench/RESULTS.md).
    """
    y = x[:, None] * a
    y += b
    for _ in range(2):
        high = y >> _SHIFT
        y &= _LOW
        high *= _FOLD
        y += high
    np.subtract(y, _PRIME, out=y, where=y >= _PRIME)
    return y


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One key per LSH band of each signature (a row of int64): two documents are candidates if any band's key
    is equal. A band's key stays :func:`hash64` of the hex digits of its values' bytes, as it was hashed one band
    at a time, so that keys do not change; the digits of the whole batch are made at once."""
    width = rows * 16  # hex digits of a band: 8 bytes a value
    digits = binascii.hexlify(np.ascontiguousarray(signatures[:, :bands * rows], dtype=np.int64).tobytes())
    keys = np.fromiter((xxhash.xxh64_intdigest(digits[i:i + width]) for i in range(0, len(digits), width)),
                       dtype=np.uint64, count=len(signatures) * bands)
    return keys.view(np.int64).reshape(len(signatures), bands)  # hash64's signed value


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


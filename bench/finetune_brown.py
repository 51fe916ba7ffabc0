"""The two Brown Corpus target tasks of ``bench/finetune_bench.py``, split by source file.

Brown (``../shared/data/brown.tar.gz``) has 500 source files ``c[a-r]NN``; the
letter after ``c`` is one of 15 genres. Each non-blank line is one sentence
of ``word/tag`` tokens.

* Split: the files of each genre are shuffled (seed) and 20% of them (at
  least one) go to test, 10% (at least one) to dev, the rest to train. Every
  sentence of a file lands in that file's split, so no text of a test file is
  seen in training -- nor in the pretraining corpus, which leaves the test
  files out.
* Genre classification: a *paragraph* is a run of ``PARAGRAPH`` (4)
  consecutive sentences of one file, cut from the file's start (the last run
  of a file may be shorter; runs of one sentence are dropped). Brown marks no
  paragraphs itself. Label: the file's genre (15 classes, uneven). Written as
  fastText lines ``__label__<genre> tokens``, tokens as ``shardvec prepare``
  writes them (lowercased, punctuation dropped), so fastText and shardvec read
  identical words.
* POS tagging: CoNLL ``word tag`` lines, one sentence per block. Brown's 472
  tags are simplified in two steps: first the modifiers are removed (the part
  before ``+`` of contractions, the ``fw-`` foreign-word prefix, the
  ``-hl``/``-tl``/``-nc`` headline/title/cited suffixes, and trailing ``*``
  negation and ``$`` possessive marks), which leaves 80 tags; then those are
  mapped to 11 universal-style classes (:data:`COARSE`, after Petrov, Das &
  McDonald 2012). Interjections (``uh``) join the particles and there is no
  ``X`` class: the finer tags include classes of a handful of tokens that
  no 1% label budget could hold twice, which ``shardvec finetune`` refuses.
  Sentences holding an untagged (``nil``) token are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PARAGRAPH = 4
GENRES = {"a": "press_reportage", "b": "press_editorial", "c": "press_reviews", "d": "religion",
          "e": "skill_hobbies", "f": "popular_lore", "g": "belles_lettres", "h": "government",
          "j": "learned", "k": "fiction", "l": "mystery", "m": "science_fiction", "n": "adventure",
          "p": "romance", "r": "humor"}
_FAMILIES = {
    "NOUN": "nn nns np nps nr nrs",
    "VERB": "vb vbd vbg vbn vbz be bed bedz beg bem ben ber bez do dod doz hv hvd hvg hvn hvz md",
    "ADJ": "jj jjr jjs jjt od",
    "ADV": "rb rbr rbt rn ql qlp wrb wql",
    "PRON": "pn pp ppl ppls ppo pps ppss wp wpo wps ex",
    "DET": "at ap abn abx abl dt dti dts dtx wdt",
    "ADP": "in",
    "NUM": "cd",
    "CONJ": "cc cs",
    "PRT": "rp to * uh",
    "PUNCT": ". , : ( ) -- '' `` '",
}
COARSE = {fine: coarse for coarse, fines in _FAMILIES.items() for fine in fines.split()}
_MODIFIERS = re.compile(r"-(hl|tl|nc)")

Sentence = list[tuple[str, str]]


def fine_tag(tag: str) -> str:
    """A Brown tag without its modifiers (``np$-tl`` -> ``np``, ``ppss+md`` -> ``ppss``)."""
    t = tag.lower().split("+")[0]
    if t.startswith("fw-"):
        t = t[3:]
    t = _MODIFIERS.sub("", t)
    return t.rstrip("*$") or t


def coarse_tag(tag: str) -> str | None:
    """The benchmark's tag class, or None for an untagged (``nil``) token."""
    fine = fine_tag(tag)
    if fine == "nil":
        return None
    return COARSE[fine]


@dataclass(frozen=True)
class FileSplit:
    train: list[str]
    dev: list[str]
    test: list[str]


def split_files(names: list[str], seed: int, dev_share: float = 0.1, test_share: float = 0.2) -> FileSplit:
    """Split source files, stratified by genre; at least one file of each genre in dev and test."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for genre in sorted(GENRES):
        files = sorted(n for n in names if n[1] == genre)
        order = [files[i] for i in rng.permutation(len(files))]
        n_test = max(1, int(round(len(files) * test_share)))
        n_dev = max(1, int(round(len(files) * dev_share)))
        parts["test"] += order[:n_test]
        parts["dev"] += order[n_test:n_test + n_dev]
        parts["train"] += order[n_test + n_dev:]
    return FileSplit(*(sorted(parts[k]) for k in ("train", "dev", "test")))


def paragraphs(sentences: list[Sentence]) -> list[list[str]]:
    """Runs of PARAGRAPH consecutive sentences (words only); a final run of one sentence is dropped."""
    out = []
    for start in range(0, len(sentences), PARAGRAPH):
        run = sentences[start:start + PARAGRAPH]
        if len(run) >= 2:
            out.append([w for s in run for w, _ in s])
    return out


def write_genre(brown: dict[str, list[Sentence]], files: list[str], path: Path, tokens) -> dict[str, int]:
    """fastText lines for the paragraphs of ``files``; returns paragraphs per genre.

    ``tokens`` turns a paragraph's text into the tokens shardvec would give it.
    """
    counts: dict[str, int] = {}
    with path.open("w", encoding="utf-8") as fh:
        for name in files:
            label = GENRES[name[1]]
            for words in paragraphs(brown[name]):
                toks = tokens(" ".join(words))
                if toks:
                    fh.write(f"__label__{label} {' '.join(toks)}\n")
                    counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))


def tagged_sentences(brown: dict[str, list[Sentence]], files: list[str]) -> list[list[tuple[str, str]]]:
    """(word, class) sentences of ``files``; sentences with an untagged token are left out."""
    out = []
    for name in files:
        for sentence in brown[name]:
            tagged = [(w, coarse_tag(t)) for w, t in sentence]
            if all(t is not None for _, t in tagged):
                out.append(tagged)  # type: ignore[arg-type]
    return out


def sample(items: list, n: int, seed: int) -> list:
    """``n`` items drawn without replacement (all when n is 0 or larger), in their original order."""
    if n <= 0 or n >= len(items):
        return list(items)
    keep = np.sort(np.random.default_rng(seed).choice(len(items), n, replace=False))
    return [items[i] for i in keep]


def write_conll(sentences: list[list[tuple[str, str]]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for sentence in sentences:
            fh.write("".join(f"{w} {t}\n" for w, t in sentence) + "\n")

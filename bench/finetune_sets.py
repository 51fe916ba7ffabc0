"""The classification sets of ``bench/finetune_bench.py``, built at bench time from real text.

Each set is written as fastText files (``__label__<class> tokens``, tokens as
``shardvec prepare`` writes them), split into train/dev/test, so that
shardvec and fastText read identical words and splits.

* ``brown-genre``: 15 Brown Corpus genres, a document = 4 consecutive
  sentences of one source file, split by source file (``finetune_brown.py``).
* ``wordnet-lexname``: WordNet 3.0 glosses (Debian ``wordnet-base``), the
  class is the synset's lexicographer file (``noun.animal``, ``verb.motion``
  ... 45 of them, from 11% of the synsets to under 0.1%); the document is the
  definition without its quoted examples (which often hold the word itself).
  A uniform sample of ``WORDNET_SAMPLE`` synsets keeps the classes as uneven
  as WordNet has them.
* ``fortune-category``: the category files of Debian ``fortunes`` (science,
  computers, love, politics ...) that hold at least ``MIN_FORTUNES``
  fortunes; the document is one fortune.

WordNet and fortunes are split at random, stratified by class (70/10/20,
seed 0). Neither is in the pretraining corpus of the bench (it leaves them
out whole), so no test document is either.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np

import finetune_brown as fb

SEED = 0
WORDNET_SAMPLE = 20000
MIN_FORTUNES = 50
# WordNet 3.0 lexnames(5WN): lexicographer file number -> name.
LEXNAMES = ("adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
            "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
            "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
            "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
            "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
            "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather "
            "adj.ppl").split()
_EXAMPLE = re.compile(r';\s*"')

Tokens = Callable[[str], list[str]]


def wordnet_glosses(share: Path) -> list[tuple[str, str]]:
    """(lexname, definition) of every synset in ``share/wordnet/data.*``."""
    out = []
    for path in sorted((share / "wordnet").glob("data.*")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("  ") or "|" not in line:  # the licence header
                continue
            fields, _, gloss = line.partition("|")
            definition = _EXAMPLE.split(gloss, 1)[0].strip()
            if definition:
                out.append((LEXNAMES[int(fields.split()[1])], definition))
    return out


def fortunes(share: Path) -> list[tuple[str, str]]:
    """(category, fortune) of every category file with at least MIN_FORTUNES fortunes."""
    out = []
    for path in sorted((share / "games" / "fortunes").iterdir()):
        if not path.is_file() or path.suffix:  # .dat indexes, .u8 links
            continue
        entries = [e.strip() for e in re.split(r"^%$", path.read_text(encoding="utf-8", errors="replace"),
                                                 flags=re.M)]
        entries = [" ".join(e.split()) for e in entries if e]
        if len(entries) >= MIN_FORTUNES:
            out += [(path.name, e) for e in entries]
    return out


def _write(path: Path, rows: list[tuple[str, list[str]]]) -> None:
    path.write_text("".join(f"__label__{label} {' '.join(tokens)}\n" for label, tokens in rows), encoding="utf-8")


def write_random_split(rows: list[tuple[str, str]], work: Path, name: str, tokens: Tokens) -> dict[str, int]:
    """Stratified 70/10/20 split of (label, text) rows into ``work/name_{train,dev,test}.txt``."""
    from shardvec.finetune.splits import split_indices

    docs = [(label, tokens(text)) for label, text in rows]
    docs = [(label, toks) for label, toks in docs if toks]
    split = split_indices(len(docs), [label for label, _ in docs], 0.1, 0.2, SEED)
    sizes = {}
    for part in ("train", "dev", "test"):
        units = getattr(split, part)
        if part == "train":  # fastText reads in file order and never shuffles: one seeded shuffle for both
            units = units[np.random.default_rng(SEED).permutation(len(units))]
        _write(work / f"{name}_{part}.txt", [docs[i] for i in units])
        sizes[part] = len(units)
    return sizes


def write_brown_genre(brown, work: Path, tokens: Tokens) -> dict[str, int]:
    """Brown genres split by source file (the same split as the POS task and the pretraining's hold-out)."""
    split = fb.split_files(list(brown), SEED)
    sizes = {}
    for part in ("train", "dev", "test"):
        path = work / f"brown-genre_{part}.txt"
        fb.write_genre(brown, getattr(split, part), path, tokens)
        lines = path.read_text(encoding="utf-8").splitlines()
        if part == "train":
            lines = [lines[i] for i in np.random.default_rng(SEED).permutation(len(lines))]
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        sizes[part] = len(lines)
    return sizes


def write_pos(brown, work: Path, sizes: dict[str, int]) -> dict[str, dict[str, int]]:
    """Brown POS (11 classes) in CoNLL files, sentences sampled from each split's source files."""
    split = fb.split_files(list(brown), SEED)
    info = {}
    for part in ("train", "dev", "test"):
        every = fb.tagged_sentences(brown, getattr(split, part))
        chosen = fb.sample(every, sizes[part], SEED + 1)
        fb.write_conll(chosen, work / f"brown-pos_{part}.conll")
        info[part] = {"sentences": len(chosen), "of": len(every), "tokens": sum(len(s) for s in chosen)}
    return info


def class_sizes(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        label = line.split(" ", 1)[0][len("__label__"):]
        counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

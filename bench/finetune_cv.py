"""Cross-validation by source file on Brown genres, for design choices the 52-file dev split is too small for.

    flock -s /tmp/shardvec-bench.lock .venv/bin/python bench/finetune_cv.py

Needs the fine-tune bench's cache (run ``bench/finetune_bench.py`` once): its
pretrained vectors and its genre training file. It measures the dense part
alone (no lexical part), the model this choice was first made for. The bench's train and dev
files (400 of Brown's 500; the 100 test files are never read) are dealt into
5 folds by file, round-robin within each genre after a seeded shuffle, so
paragraphs of one file never sit on both sides. For fold k: fold k is
scored, fold k+1 early-stops (as the dev split does in ``shardvec
finetune``), the other three train. Every class weighting x learning rate
runs with the pretrained and the adapted vectors (adapted on the bench's
genre training paragraphs, as its ``adapted`` setting is) at the full budget
(one run per fold) and at 1% (three draws per fold). Prints mean macro-F1 and
accuracy over folds and draws with their standard errors; writes nothing.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import finetune_bench  # noqa: E402
import finetune_brown as fb  # noqa: E402
import realtext  # noqa: E402
from shardvec.finetune.adapt import AdaptSettings, load_pretrained  # noqa: E402
from shardvec.finetune.classifier import CLASS_WEIGHTS, Architecture, TrainOptions, fit  # noqa: E402
from shardvec.finetune.datasets import Dataset, ReadOptions, read_dataset, text_tokens  # noqa: E402
from shardvec.finetune.experiment import run_seed  # noqa: E402
from shardvec.finetune.features import WordTable  # noqa: E402
from shardvec.finetune.splits import Split, budget_subset  # noqa: E402
from shardvec.finetune.task import ModelOptions, Task, build_task  # noqa: E402
from shardvec.finetune.vectorsets import adapt  # noqa: E402

FOLDS = 5
FOLD_SEED = 123
LEARNING_RATES = (0.1, 0.2, 0.5)
BUDGETS = {1.0: 1, 0.01: 3}  # budget -> draws per fold
DENSE = ModelOptions(weighting="mean", buckets=0, window=0, lexical=False, ngrams=1, hidden=0)


def fold_tasks(brown: dict, files: list[str]) -> list[Task]:
    """One task per fold: train on three folds, early-stop on the next fold, score this one."""
    options = ReadOptions()
    rng = np.random.default_rng(FOLD_SEED)
    fold_of: dict[int, int] = {}
    for genre in sorted({name[1] for name in files}):
        ids = [i for i, name in enumerate(files) if name[1] == genre]
        fold_of.update({int(i): j % FOLDS for j, i in enumerate(rng.permutation(ids))})
    tokens, labels, folds = [], [], []
    for i, name in enumerate(files):
        for words in fb.paragraphs(brown[name]):
            if found := text_tokens(" ".join(words), options):
                tokens.append(found)
                labels.append((fb.GENRES[name[1]],))
                folds.append(fold_of[i])
    data, fold = Dataset("classify", tokens, labels, "brown-cv", "fasttext"), np.array(folds)
    tasks = []
    for k in range(FOLDS):
        stop = (k + 1) % FOLDS
        tasks.append(build_task(data, Split(np.where((fold != k) & (fold != stop))[0], np.where(fold == stop)[0],
                                            np.where(fold == k)[0])))
    return tasks


def cross_validate(tasks: list[Task], kv, options: TrainOptions, budget: float, draws: int) -> np.ndarray:
    """Rows of (macro-F1, accuracy) on the scored fold, one per fold and draw."""
    prototype = tasks[0].encoder(WordTable(kv, tasks[0].data.tokens), False, DENSE, None)
    rows = []
    for k, task in enumerate(tasks):
        for draw in range(draws):
            units = budget_subset(task.split.train, task.data.labels, True, budget, 2, run_seed(0, budget, draw))
            model = fit(prototype.fresh(), Architecture(0, None), task.targets, units, task.split.dev, options,
                        False, 1000 * k + draw, lambda p, t=task: t.score(t.split.dev, p)["macro_f1"])
            metrics = task.score(task.split.test, model.predict(task.split.test))
            rows.append((metrics["macro_f1"], metrics["accuracy"]))
    return np.array(rows)


def main() -> None:
    brown = realtext.read_brown()
    split = fb.split_files(list(brown), finetune_bench.SEED)
    tasks = fold_tasks(brown, sorted(split.train + split.dev))
    work = realtext.cache_dir() / "finetune-bench"
    vectors = finetune_bench.pretrain(split.test)[0]
    pretrained = load_pretrained(str(vectors))
    texts = read_dataset(str(work / "brown-genre_train.txt"), ReadOptions()).tokens
    adapted, _ = adapt(pretrained, texts, AdaptSettings(5, 2, 1.0, finetune_bench.SEED))
    print(f"{FOLDS} folds of Brown's train+dev files; scored-fold sizes "
          f"{[len(t.split.test) for t in tasks]} paragraphs")
    print("| vectors | budget | class weight | learning rate | macro-F1 | accuracy |\n|---|---|---|---|---|---|")
    for (name, kv), (budget, draws) in itertools.product((("pretrained", pretrained.kv), ("adapted", adapted)),
                                                         BUDGETS.items()):
        for weights, lr in itertools.product(CLASS_WEIGHTS, LEARNING_RATES):
            options = TrainOptions(30, lr, 1e-4, 3, 16, weights, "score")
            rows = cross_validate(tasks, kv, options, budget, draws)
            mean, se = rows.mean(axis=0), rows.std(axis=0) / np.sqrt(len(rows))
            print(f"| {name} | {budget:.0%} | {weights} | {lr:g} | {mean[0]:.4f} ± {se[0]:.4f} | "
                  f"{mean[1]:.4f} ± {se[1]:.4f} |", flush=True)


if __name__ == "__main__":
    main()

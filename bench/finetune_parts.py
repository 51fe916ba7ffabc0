"""Which parts of the fine-tune model earn their place: dev scores only, on the fine-tune bench's sets.

    flock /tmp/shardvec-bench.lock .venv/bin/python bench/finetune_parts.py

Uses the data and the pretrained vectors of ``bench/finetune_bench.py``
(built, or read from its cache). For each variant of the model below, the
``pretrained`` setting (frozen vectors) runs every budget with ``--draws``
draws; at each budget the learning-rate x lexical-L2 candidates of the
variant are searched on dev and the table gives the kept candidate's mean
dev score. The test split is never read. The defaults of ``[finetune]`` are
the variant ``default``; the others change one part.

Results go to ``bench/RESULTS.md`` ("## Fine-tune model parts (dev)").
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import finetune_bench as fbench  # noqa: E402
import realtext  # noqa: E402
import results  # noqa: E402

SECTION = "## Fine-tune model parts (dev)"
BUDGETS = [0.01, 0.05, 0.25, 1.0]
TAG_BUDGETS = [0.01, 0.05, 0.25]  # a full-budget POS fit takes about a minute: 25% shows the trend
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "no lexical part": {"lexical": False},
    "lexical bigrams": {"lexical_ngrams": 2},
    "sif weighting": {"weighting": "sif"},
    "tfidf weighting": {"weighting": "tfidf"},
    "hidden 256": {"hidden": 256},
    "lexical L2 1e-5 only": {"lexical_l2": [1e-5]},
    "lexical L2 1e-2 only": {"lexical_l2": [1e-2]},
}
TAG_VARIANTS = ("default", "no lexical part", "hidden 256", "lexical L2 1e-5 only", "lexical L2 1e-2 only")


def dev_curve(name: str, work: Path, kv, changes: dict[str, Any], budgets: list[float], draws: int) -> dict[float, float]:
    """Mean dev score of the kept candidate at each budget, ``pretrained`` setting, selection on dev."""
    from shardvec.config import Config
    from shardvec.finetune.classifier import Architecture
    from shardvec.finetune.experiment import VectorLearner, plan_budgets, search
    from shardvec.finetune.features import SparseRows, WordTable
    from shardvec.finetune.pipeline import curve_options, load_data
    from shardvec.finetune.task import build_task

    config = Config()
    ext = "conll" if name == "brown-pos" else "txt"
    finetune_config = config.finetune
    finetune_config.train, finetune_config.dev, finetune_config.test = (
        str(work / f"{name}_{p}.{ext}") for p in ("train", "dev", "test"))
    for key, value in {**changes, "budgets": budgets, "repeats": draws, "select_by": "dev"}.items():
        setattr(finetune_config, key, value)
    data, split, _ = load_data(finetune_config, config.prepare)
    task = build_task(data, split)
    options = curve_options(finetune_config, task)
    lexical = SparseRows(task.lexical(options.model)) if options.model.lexical else None
    encoder = task.encoder(WordTable(kv, data.tokens), False, options.model, task.term_weights(options.model))
    learner = VectorLearner(task, encoder, Architecture(options.model.hidden, lexical), options.candidates)
    plan, *_ = plan_budgets(task, options)
    return {budget: search(task, learner, subsets, budget, options).score for budget, subsets in plan.items()
            if budget in budgets}  # the plan always holds the full budget


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=2, help="draws per budget (default 2)")
    args = parser.parse_args()
    started = time.perf_counter()
    work = realtext.cache_dir() / "finetune-bench"
    work.mkdir(parents=True, exist_ok=True)
    bench_args = argparse.Namespace(quick=False, wordnet=fbench.fsets.WORDNET_SAMPLE,
                                    **{f"pos_{k}": v for k, v in fbench.POS_SENTENCES.items()})
    data = fbench.write_sets(work, bench_args)
    vectors, _, _ = fbench.pretrain(data["test_files"])
    from shardvec.finetune.adapt import load_pretrained

    kv = load_pretrained(str(vectors)).kv
    table: dict[str, dict[str, dict[float, float]]] = {}
    for name in fbench.CLASSIFY + ("brown-pos",):
        tag = name == "brown-pos"
        for variant in (TAG_VARIANTS if tag else VARIANTS):
            t0 = time.perf_counter()
            table.setdefault(variant, {})[name] = dev_curve(name, work, kv, VARIANTS[variant],
                                                            TAG_BUDGETS if tag else BUDGETS, args.draws)
            fbench.log(f"{name} {variant}: {table[variant][name]} ({time.perf_counter() - t0:.0f} s)")
    from shardvec.config import FinetuneConfig

    defaults = FinetuneConfig()
    default = ", ".join(f"{k} = {getattr(defaults, k)}" for k in ("weighting", "lexical", "lexical_ngrams",
                                                                   "lexical_l2", "hidden", "learning_rate"))
    command = ((f"flock {fbench.LOCK} " if fbench.lock_held() else "") +
               ".venv/bin/python bench/finetune_parts.py " + " ".join(sys.argv[1:])).strip()
    lines = [SECTION, "", f"Command: `{command}` ({(time.perf_counter() - started) / 60:.0f} min, 2 shared cores).", "",
             f"Mean dev score (macro-F1; POS: token accuracy) of the `pretrained` setting over {args.draws} draws per "
             "budget, each variant searching its learning-rate x lexical-L2 candidates on dev; the test splits are "
             f"never read. `default` is `[finetune]` as shipped ({default}); every other row changes one part.", ""]
    names = list(fbench.CLASSIFY) + ["brown-pos"]
    head = ["variant"] + [f"{n} @ {b:.0%}" for n in names for b in (TAG_BUDGETS if n == "brown-pos" else BUDGETS)]
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for variant, by_set in table.items():
        cells = [f"{by_set[n][b]:.3f}" if n in by_set else "" for n in names
                 for b in (TAG_BUDGETS if n == "brown-pos" else BUDGETS)]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    section = "\n".join(lines) + "\n"
    results.write_section(section)
    print(section)


if __name__ == "__main__":
    main()

"""``shardvec demo``: the whole pipeline on data that gensim installs.

A news corpus (``lee_background.cor``) and a Wikipedia dump excerpt become a
corpus, vectors, an intrinsic evaluation and a fine-tuning report on a
sentiment set (``pang_lee_polarity.cor``), all on an embedded Spark and a Dask
LocalCluster, in a few minutes on a laptop.

The sentiment set is small (200 sentences: 140 to train, 20 for dev, 40 to
test), so the demo's fine-tuning shows what such data can show: the small end
of the learning curve, where pretraining matters most, drawn
:data:`TARGET_REPEATS` times per budget, and a summary that says which
differences are within the noise of 40 test sentences instead of crowning a
winner.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from shardvec import api
from shardvec.config import Config
from shardvec.finetune.report import verdict_lines
from shardvec.logs import stage_logger
from shardvec.outputs import local_path

log = stage_logger(__name__, "demo")

NEWS = "lee_background.cor"
WIKI = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
TARGET = "pang_lee_polarity.cor"
TARGET_BUDGETS = [0.05, 0.1, 0.25, 0.5, 1.0]  # 8, 14, 36, 70 and 140 training sentences
TARGET_REPEATS = 5


def sample_paths() -> dict[str, str]:
    from gensim.test.utils import datapath

    return {"news": datapath(NEWS), "wiki": datapath(WIKI), "target": datapath(TARGET)}


def run_demo(config: Config, output: str, overwrite: bool = False) -> dict[str, Any]:
    """Run prepare, train, evaluate and finetune; return a summary of each."""
    root = local_path(output)
    data = sample_paths()
    cfg = copy.deepcopy(config)
    cfg.prepare.input = [data["news"], data["wiki"]]
    cfg.prepare.output = str(root / "corpus")
    cfg.prepare.overwrite = cfg.train.overwrite = cfg.finetune.overwrite = overwrite or cfg.prepare.overwrite
    cfg.train.corpus = cfg.prepare.output
    cfg.train.output = str(root / "vectors")
    cfg.evaluate.vectors = cfg.train.output
    cfg.evaluate.output = str(root / "evaluation.json")
    cfg.finetune.vectors = cfg.train.output
    cfg.finetune.dataset = data["target"]
    cfg.finetune.output = str(root / "finetune")
    cfg.finetune.budgets, cfg.finetune.repeats = list(TARGET_BUDGETS), TARGET_REPEATS

    timings: dict[str, float] = {}
    results: dict[str, Any] = {}
    for stage in ("prepare", "train", "evaluate", "finetune"):
        log.info(f"{stage} ...")
        t0 = time.perf_counter()
        results[stage] = getattr(api, stage)(cfg)
        timings[stage] = round(time.perf_counter() - t0, 1)
    summary = {"outputs": {"corpus": cfg.prepare.output, "vectors": cfg.train.output,
                           "evaluation": cfg.evaluate.output, "finetune": cfg.finetune.output},
               "seconds": timings, "evaluation": results["evaluate"], "finetune": results["finetune"]}
    print(format_demo(summary))
    return summary


def format_demo(summary: dict[str, Any]) -> str:
    ev = summary["evaluation"]

    def score(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    lines = ["", "shardvec demo: done", "",
             f"{'stage':<10}{'seconds':>9}  output"]
    for stage, key in (("prepare", "corpus"), ("train", "vectors"), ("evaluate", "evaluation"),
                       ("finetune", "finetune")):
        lines.append(f"{stage:<10}{summary['seconds'][stage]:>9.1f}  {summary['outputs'][key]}")
    lines += ["",
              f"vectors: {ev['vocab_size']} words; analogy {score(ev['analogy']['accuracy'])} "
              f"({ev['analogy']['oov_share']:.0%} skipped), WordSim353 {score(ev['wordsim353']['spearman'])}, "
              f"SimLex-999 {score(ev['simlex999']['spearman'])}",
              f"finetune report: {Path(summary['outputs']['finetune']) / 'report.md'}"]
    section = summary["finetune"].get("classify")
    if section:
        lines += ["", "sentiment (pang_lee_polarity.cor), does pretraining help? "
                      f"({section['metric']}, {section['repeats']} draws per budget):"]
        lines += [f"  {line}" for line in verdict_lines(section)]
    return "\n".join(lines)

"""Fine-tune stage benchmark: learning curves of shardvec finetune beside the classical anchors, on real sets.

    flock /tmp/shardvec-bench.lock .venv/bin/python bench/finetune_bench.py   # the full run
    .venv/bin/python bench/finetune_bench.py --quick                          # a smoke test, writes nothing
    ... bench/finetune_bench.py --resume   # after an interruption: reuse the sets already finished

Needs ``../shared/data/brown.tar.gz``, the Debian packages of
``bench/realtext.py`` (downloaded once with ``apt-get download``) and, for the
fastText anchors, the ``fasttext`` Python module (``pip install
fasttext-wheel``: the bench's only extra, not a project dependency; without
it the fastText columns are left out and the section says so).

1. Sets (``bench/finetune_sets.py``): Brown genres (15 classes), WordNet
   lexicographer files (45 classes) and fortune categories (36 classes), all
   with uneven classes, as fastText files; Brown POS (11 tags) as CoNLL.
2. Pretraining (cached, keyed by what it leaves out): ``shardvec prepare``
   + ``shardvec train`` on the real text of ``bench/realtext.py`` without
   the Brown test files and without WordNet and the fortunes (whole), so no
   test document of any set is in it.
3. Each set: ``shardvec finetune`` with its defaults (six vector settings
   and its TF-IDF + logistic regression baseline; classify also the
   pretrained setting once more with word bigrams; budgets 1/5/25/100% with
   ``--repeats`` draws), and fastText supervised without and with
   ``-pretrainedVectors``, its options chosen on dev at the full budget
   from a grid, trained on the very draws shardvec trains on.
4. shardvec's result at a budget is its *dev-chosen* setting: the one its
   report recommends there (the ensemble unless a setting's selection score
   beats it beyond noise, ``finetune.prefer_ensemble``; selection by
   cross-validation on the budget's own examples at 1% and 5%, dev above),
   never a test score. Within a group (with or without pretraining) it is
   the best selection score.
5. Fit time: one shardvec fit of the dev-chosen genre setting at the full
   budget (read the files, load the vectors, build the features, train)
   against one fastText fit on the same file, interleaved, median of
   ``--time-repeats``.

Results go to ``bench/RESULTS.md`` ("## Fine-tune stage"), the learning-curve
plots to ``bench/plots/``, everything measured to ``finetune_bench.json`` in
the bench cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import finetune_sets as fsets  # noqa: E402
import realtext  # noqa: E402
import results  # noqa: E402

from shardvec.finetune.vectorsets import BIGRAMS, vectors_of  # noqa: E402
from shardvec.logs import show_progress  # noqa: E402

SECTION = "## Fine-tune stage"
BUDGETS = [0.01, 0.05, 0.25, 1.0]
CLASSIFY = ("brown-genre", "wordnet-lexname", "fortune-category")
SETS = CLASSIFY + ("brown-pos",)
PRETRAINED = ("pretrained", "adapted", "finetuned", "adapted+finetuned")
NO_PRETRAINING = ("random", "target")
ENSEMBLE = "ensemble"  # the mean of several settings' (and the baseline's) probabilities: a candidate for dev-chosen
FASTTEXT_GRID = [{"epoch": e, "lr": lr, "wordNgrams": n} for e in (5, 25) for lr in (0.1, 0.5) for n in (1, 2)]
TRAIN_SETTINGS = ["--merge", "periodic", "--set", "train.vector_size=100", "--set", "train.epochs=5",
                  "--set", "train.sg=1", "--set", "train.window=5", "--set", "dask.n_workers=2",
                  "--set", "dask.threads_per_worker=1", "--set", "train.evaluate=false"]
LEFT_OUT = ("wordnet", "fortunes")  # pretraining sources the sets are built from, left out whole
POS_SENTENCES = {"train": 2000, "dev": 1000, "test": 3000}  # sampled from the split's files; a full POS fit is ~1 min
SEED = 0
LOCK = "/tmp/shardvec-bench.lock"
PLOTS = BENCH / "plots"


def log(message: str) -> None:
    print(f"[finetune-bench] {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def lock_held() -> bool:
    """Whether the shared benchmark lock is held (by the ``flock`` this bench should run under)."""
    import fcntl

    with open(LOCK, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "shardvec.cli", *args]


def timed(command: list[str]) -> float:
    """Wall seconds of a subprocess (its output goes to a log file beside the bench cache)."""
    with (realtext.cache_dir() / "finetune_bench.log").open("a") as fh:
        fh.write(f"\n$ {' '.join(command)}\n")
        fh.flush()
        t0 = time.perf_counter()
        subprocess.run(command, check=True, stdout=fh, stderr=subprocess.STDOUT)
        return time.perf_counter() - t0


def mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


# ---------------------------------------------------------------- pretraining

def pretrain_inputs(test_files: list[str]) -> list[Path]:
    """The real text minus the Brown test files and minus every source a set is built from."""
    held_out = {f"{name}.txt" for name in test_files}
    keep = []
    for path in realtext.text_inputs():
        if path.parent.name == "brown-plain" and path.name in held_out:
            continue
        if path.parent.name in LEFT_OUT:
            continue
        keep.append(path)
    return keep


def pretrain(test_files: list[str]) -> tuple[Path, dict[str, Any], bool]:
    """The pretrained train directory (prepared and trained once per key), its figures, whether cached."""
    key = hashlib.sha1(json.dumps([sorted(test_files), LEFT_OUT, TRAIN_SETTINGS]).encode()).hexdigest()[:10]
    cache = realtext.cache_dir()
    corpus, vectors = cache / f"finetune-corpus-{key}", cache / f"finetune-vectors-{key}"
    info_path = cache / f"finetune-pretrain-{key}.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    cached = (vectors / "_SUCCESS").exists() and "train_seconds" in info
    if not (corpus / "_SUCCESS").exists():
        inputs = pretrain_inputs(test_files)
        log(f"preparing the pretraining corpus from {len(inputs)} files")
        info["prepare_seconds"] = timed(cli("prepare", "--input", *map(str, inputs), "--output", str(corpus),
                                            "--overwrite", "--set", "prepare.shards=2", "--set", "vocab.min_count=5",
                                            "--set", 'spark.driver_memory="6g"'))
        info["inputs"] = len(inputs)
        info.pop("train_seconds", None)
        info_path.write_text(json.dumps(info))
    if not cached:
        log("training the pretrained vectors")
        info["train_seconds"] = timed(cli("train", "--corpus", str(corpus), "--output", str(vectors), "--overwrite",
                                          *TRAIN_SETTINGS))
        info_path.write_text(json.dumps(info))
    manifest = json.loads((corpus / "manifest.json").read_text())
    info.update(tokens=manifest["tokens"], sentences=manifest["sentences"], directory=str(vectors))
    return vectors, info, cached


def vec_file(vectors: Path) -> Path:
    """The pretrained vectors as a word2vec text file, which is what fastText's -pretrainedVectors reads."""
    from shardvec.vectors import load_keyed_vectors

    out = vectors.with_name(vectors.name + ".vec")
    if not out.exists():
        kv = load_keyed_vectors(str(vectors))
        kv.save_word2vec_format(str(out.with_suffix(".tmp")), binary=False)
        out.with_suffix(".tmp").rename(out)
    return out


# ---------------------------------------------------------------- data

def write_sets(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from shardvec.finetune.datasets import ReadOptions, text_tokens

    options = ReadOptions()

    def tokens(text: str) -> list[str]:
        return text_tokens(text, options)

    brown = realtext.read_brown()
    share = realtext.fetch_packages() / "usr" / "share"
    rows = {"wordnet-lexname": fsets.wordnet_glosses(share), "fortune-category": fsets.fortunes(share)}
    wordnet = rows["wordnet-lexname"]
    keep = np.sort(np.random.default_rng(SEED).choice(len(wordnet), min(args.wordnet, len(wordnet)), replace=False))
    rows["wordnet-lexname"] = [wordnet[i] for i in keep]
    info: dict[str, Any] = {"brown-genre": fsets.write_brown_genre(brown, work, tokens)}
    for name, found in rows.items():
        info[name] = fsets.write_random_split(found, work, name, tokens)
    for name in CLASSIFY:
        info[name] = {"sizes": info[name], "classes": fsets.class_sizes(work / f"{name}_train.txt")}
    info["brown-pos"] = fsets.write_pos(brown, work, {"train": args.pos_train, "dev": args.pos_dev,
                                                      "test": args.pos_test})
    if args.quick:  # small training files; dev and test keep the classes those still hold
        for name in CLASSIFY:
            path = work / f"{name}_train.txt"
            lines = path.read_text(encoding="utf-8").splitlines()[:args.quick_train]
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            seen = set(read_labels(path))
            for part in ("dev", "test"):
                other = work / f"{name}_{part}.txt"
                kept = [line for line, label in zip(other.read_text(encoding="utf-8").splitlines(),
                                                    read_labels(other)) if label in seen]
                other.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    import finetune_brown as fb

    info["test_files"] = fb.split_files(list(brown), SEED).test
    return info


def read_labels(path: Path) -> list[str]:
    return [line.split(" ", 1)[0][len("__label__"):] for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------- shardvec

def code_version() -> str:
    """The git tree of the fine-tune package: a reused report must come from the same code."""
    out = subprocess.run(["git", "rev-parse", "HEAD:lib/shardvec/finetune"], cwd=BENCH.parent,
                         capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "lib/shardvec/finetune"], cwd=BENCH.parent,
                           capture_output=True, text=True).stdout.strip()
    return "" if out.returncode or dirty else out.stdout.strip()


def run_shardvec(name: str, work: Path, vectors: Path, repeats: int, budgets: list[float],
                 resume: bool = False) -> dict[str, Any]:
    """``shardvec finetune`` with its defaults on one set; returns the report and the wall seconds.

    With ``resume``, a finished report of the same command from the same
    fine-tune code (recorded beside it in ``bench_run.json``) is read back
    instead of run again: an interrupted bench goes on where it stopped.
    """
    tag = name == "brown-pos"
    ext = "conll" if tag else "txt"
    output = work / f"shardvec-{name}"
    log(f"shardvec finetune {name}")
    command = cli("finetune", "--vectors", str(vectors), "--train", str(work / f"{name}_train.{ext}"),
                  "--dev", str(work / f"{name}_dev.{ext}"), "--test", str(work / f"{name}_test.{ext}"),
                  "--output", str(output), "--overwrite", "--mode", "tag" if tag else "classify",
                  "--set", "finetune.intrinsic_vocab=0", "--set", f"finetune.split_seed={SEED}",
                  "--set", f"finetune.repeats={repeats}", "--set", f"finetune.budgets={json.dumps(budgets)}")
    run = {"command": " ".join(command[1:]), "code": code_version()}
    stamp = output / "bench_run.json"
    previous = json.loads(stamp.read_text()) if stamp.exists() else {}
    if resume and run["code"] and (output / "_SUCCESS").exists() and \
            {k: previous.get(k) for k in run} == run:
        log(f"shardvec finetune {name}: reusing the finished report in {output}")
        return {"seconds": previous["seconds"], "report": json.loads((output / "report.json").read_text()),
                "command": run["command"], "reused": True}
    seconds = timed(command)
    stamp.write_text(json.dumps({**run, "seconds": round(seconds, 1)}))
    report = json.loads((output / "report.json").read_text())
    log(f"shardvec finetune {name}: {seconds:.0f} s")
    return {"seconds": round(seconds, 1), "report": report, "command": run["command"]}


def curves(report: dict[str, Any]) -> dict[str, dict[float, dict[str, Any]]]:
    """setting or baseline -> budget -> selection score and test metric lists, from a finetune report."""
    section = report["classify" if "classify" in report else "tag"]
    recommended = section.get("recommended", {})
    out = {}
    for name, s in {**section["settings"], **section["baselines"]}.items():
        out[name] = {c["budget"]: {"selection": c["selection_score"], "how": c["selection"], "choice": c["choice"],
                                   "weights": c.get("weights"),
                                   "recommended": recommended.get(str(c["budget"])) == name,
                                   **{k: [r["test"][k] for r in c["runs"]] for k in c["runs"][0]["test"]}}
                     for c in s["curve"]}
    return out


def our_settings(by_setting: dict[str, Any], groups: tuple[str, ...] = PRETRAINED + NO_PRETRAINING + (ENSEMBLE,),
         ) -> tuple[str, ...]:
    """The report's settings of ``groups`` (not the anchors), a setting's run with bigrams counting as its own."""
    return tuple(n for n in by_setting if vectors_of(n) in groups)


def chosen(by_setting: dict[str, dict[float, dict[str, Any]]], names: tuple[str, ...], budget: float) -> str:
    """Among ``names``, the report's recommended setting at ``budget`` where it is one of them, else the one with
    the best selection score there (no test score involved either way)."""
    named = [n for n in names if n in by_setting and budget in by_setting[n]]
    recommended = [n for n in named if by_setting[n][budget].get("recommended")]
    return recommended[0] if recommended else max(named, key=lambda n: by_setting[n][budget]["selection"])


# ---------------------------------------------------------------- fastText

def fasttext_module():
    try:
        import fasttext
    except ImportError:
        return None
    return fasttext


def budget_files(work: Path, name: str, budgets: list[float], repeats: int, floor: int) -> dict[tuple[float, int], Path]:
    """The training draws, exactly as ``shardvec finetune`` draws them (same function, same seeds)."""
    from shardvec.finetune.experiment import run_seed
    from shardvec.finetune.splits import budget_subset

    lines = (work / f"{name}_train.txt").read_text(encoding="utf-8").splitlines()
    labels = [(label,) for label in read_labels(work / f"{name}_train.txt")]
    files = {}
    for budget in budgets:
        for r in range(repeats):
            units = budget_subset(np.arange(len(lines)), labels, True, budget, floor, run_seed(SEED, budget, r))
            path = work / "subsets" / f"{name}_{budget:g}_{r}.txt"
            path.parent.mkdir(exist_ok=True)
            path.write_text("".join(lines[i] + "\n" for i in units), encoding="utf-8")
            files[budget, r] = path
    return files


def fasttext_scores(model, path: Path, classes: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 of a fastText model on a labelled file, by shardvec's metric code."""
    from shardvec.finetune.metrics import class_metrics

    labels = read_labels(path)
    texts = [line.split(" ", 1)[1] if " " in line else "" for line in path.read_text(encoding="utf-8").splitlines()]
    predicted = [p[0][len("__label__"):] for p in model.predict(texts, k=1)[0]]
    column = {c: k for k, c in enumerate(classes)}
    truth, pred = np.zeros((len(labels), len(classes))), np.zeros((len(labels), len(classes)))
    truth[np.arange(len(labels)), [column[x] for x in labels]] = 1
    pred[np.arange(len(labels)), [column[x] for x in predicted]] = 1
    m = class_metrics(truth, pred, classes)
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


def fasttext_fit(fasttext, train: Path, params: dict[str, Any], vec: Path | None, seed: int):
    """A fastText supervised model (dim 100, 2 threads) and its wall seconds."""
    t0 = time.perf_counter()
    model = fasttext.train_supervised(input=str(train), dim=100, thread=2, seed=seed, verbose=0,
                                pretrainedVectors=str(vec) if vec else "", **params)
    return model, time.perf_counter() - t0


def run_fasttext(fasttext, work: Path, name: str, vec: Path, budgets: list[float], repeats: int, floor: int,
                 grid_size: int) -> dict[str, Any]:
    """Both variants: options chosen on dev at the full budget, then the learning curve on shardvec's draws."""
    classes = sorted(set(read_labels(work / f"{name}_train.txt")))
    subsets = budget_files(work, name, budgets, repeats, floor)
    out: dict[str, Any] = {}
    for variant, vectors in (("fasttext", None), ("fasttext+pretrained", vec)):
        grid = []
        for params in FASTTEXT_GRID[:grid_size]:
            try:
                model, seconds = fasttext_fit(fasttext, work / f"{name}_train.txt", params, vectors, SEED)
            except RuntimeError as err:  # fastText >= 0.9.3 stops with "Encountered NaN" at a too-high lr
                log(f"{name} {variant} {params}: skipped, {err}")
                grid.append({"params": params, "diverged": str(err)})
                continue
            grid.append({"params": params, "seconds": round(seconds, 2),
                         "dev": fasttext_scores(model, work / f"{name}_dev.txt", classes)})
        best = max((g for g in grid if "dev" in g),
                   key=lambda g: (g["dev"]["macro_f1"], g["dev"]["accuracy"]))["params"]
        curve = {}
        for budget in budgets:
            runs = []
            for r in range(repeats):
                model, seconds = fasttext_fit(fasttext, subsets[budget, r], best, vectors, r)
                runs.append({"seconds": round(seconds, 2), "test": fasttext_scores(model, work / f"{name}_test.txt",
                                                                                  classes)})
            curve[budget] = {"choice": str(best), "accuracy": [x["test"]["accuracy"] for x in runs],
                             "macro_f1": [x["test"]["macro_f1"] for x in runs],
                             "seconds": [x["seconds"] for x in runs]}
        out[variant] = {"grid": grid, "params": best, "curve": curve}
        log(f"{name} {variant} {best}: " + ", ".join(f"{b:g} {mean(c['macro_f1']):.3f}" for b, c in curve.items()))
    return out


# ---------------------------------------------------------------- fit time

def shardvec_fit_seconds(work: Path, kvs: dict[str, Any], report: dict[str, Any], setting: str) -> float:
    """One fit of ``setting`` at the full budget with its chosen options: read the files, build the
    features, train (the vectors are in memory: loading them is timed apart). The ensemble fits each of
    its members of non-zero weight at the full budget."""
    from shardvec.config import Config
    from shardvec.finetune.baseline import fit_baseline
    from shardvec.finetune.classifier import Architecture, fit
    from shardvec.finetune.features import SparseRows, WordTable
    from shardvec.finetune.pipeline import curve_options, load_data
    from shardvec.finetune.task import build_task

    t0 = time.perf_counter()
    config = Config()
    finetune_config = config.finetune
    finetune_config.train, finetune_config.dev, finetune_config.test = (
        str(work / f"brown-genre_{p}.txt") for p in ("train", "dev", "test"))
    data, split, _ = load_data(finetune_config, config.prepare)
    task = build_task(data, split)
    options = curve_options(finetune_config, task)
    section = report["classify"]
    lexical = task.lexical(options.model)
    baseline_lexical = task.baseline_features(options.model, lexical)

    def score(predicted: np.ndarray) -> float:
        return task.score(split.dev, predicted)[task.metric]

    for member in full_budget_members(section, setting):
        if member == task.baseline:
            point = section["baselines"][member]["curve"][-1]
            candidate = next(c for c in options.baseline if c.describe() == {"C": point["C"]})
            fit_baseline(baseline_lexical, task.targets, split.train, split.dev, candidate, False, score)
            continue
        point = section["settings"][member]["curve"][-1]
        candidate = next(c for c in options.candidates if c.describe() == {k: point[k] for k in c.describe()})
        if point["selection"] == "cv":
            candidate = candidate.fixed(point["runs"][0]["epochs_run"])
        vectors = vectors_of(member)
        encoder = task.encoder(WordTable(kvs[vectors], data.tokens), vectors.endswith("finetuned"), options.model,
                               task.term_weights(options.model))
        features = task.bigram_lexical(options.model) if member.endswith(BIGRAMS) else lexical
        fit(encoder.fresh(), Architecture(options.model.hidden, SparseRows(features) if options.model.lexical else None),
            task.targets, split.train, split.dev, candidate, False, SEED, score)
    return time.perf_counter() - t0


def full_budget_members(section: dict[str, Any], setting: str) -> list[str]:
    """What a full-budget fit of ``setting`` trains: itself, or the ensemble's members that weigh there."""
    return list(section["settings"][setting]["curve"][-1].get("weights") or [setting])


def time_fits(fasttext, work: Path, vectors: Path, vec: Path | None, report: dict[str, Any], setting: str,
              fasttext_params: dict[str, dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Interleaved single fits on the genre training file; the median of ``repeats`` each.

    The setting's vectors are built once beforehand (adapting or target Word2Vec is vector preparation,
    done once per report, not part of a fit); loading the binary pretrained vectors is timed on its own.
    """
    from shardvec.finetune.adapt import AdaptSettings, load_pretrained
    from shardvec.finetune.datasets import ReadOptions, read_dataset
    from shardvec.finetune.vectorsets import build_vector_sets

    t0 = time.perf_counter()
    pretrained = load_pretrained(str(vectors))
    load_seconds = time.perf_counter() - t0
    texts = read_dataset(str(work / "brown-genre_train.txt"), ReadOptions()).tokens
    members = list(dict.fromkeys(vectors_of(m) for m in full_budget_members(report["classify"], setting)
                                 if m not in report["classify"]["baselines"]))
    kvs = {name: v.kv for name, v in build_vector_sets(members, pretrained, texts,
                                                        AdaptSettings(5, 2, 1.0, SEED))[0].items()}
    steps = {f"shardvec ({setting})": lambda: shardvec_fit_seconds(work, kvs, report, setting)}
    if fasttext is not None:
        for variant, v in (("fasttext", None), ("fasttext+pretrained", vec)):
            steps[variant] = (lambda v=v, variant=variant: fasttext_fit(
                fasttext, work / "brown-genre_train.txt", fasttext_params[variant], v, SEED)[1])
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            seconds[name].append(step())
    log(f"fit seconds {seconds}; loading the binary vectors {load_seconds:.1f} s")
    return {"load_vectors_seconds": round(load_seconds, 2),
            "fits": {name: {"median": statistics.median(s), "all": [round(x, 2) for x in s]}
                     for name, s in seconds.items()}}


# ---------------------------------------------------------------- targets, tables, plots

def anchors(shardvec: dict[str, dict[float, dict[str, Any]]], fasttext: dict[str, Any] | None,
            baseline: str) -> dict[str, dict[float, dict[str, Any]]]:
    found = {baseline: shardvec[baseline]}
    if fasttext:
        found.update({v: fasttext[v]["curve"] for v in ("fasttext", "fasttext+pretrained")})
    return found


def set_targets(name: str, by_setting, anchor_curves, metrics: list[str], budgets: list[float]) -> list[dict[str, Any]]:
    """shardvec's dev-chosen setting against the best anchor (by test score, the strictest reading) and
    pretrained against no pretraining at the small budgets."""
    rows = []
    settings = our_settings(by_setting)
    for budget in budgets:
        pick = chosen(by_setting, settings, budget)
        ours = {m: mean(by_setting[pick][budget][m]) for m in metrics}
        for m in metrics:
            best = max(anchor_curves, key=lambda a: mean(anchor_curves[a][budget][m]))
            theirs = mean(anchor_curves[best][budget][m])
            rows.append({"set": name, "target": f"{m} at {budget:.0%}: dev-chosen >= best anchor",
                         "met": ours[m] >= theirs,
                         "figures": f"{pick} {ours[m]:.3f} vs {best} {theirs:.3f}"})
    for budget in (b for b in budgets if b <= 0.05):
        pre = chosen(by_setting, our_settings(by_setting, PRETRAINED), budget)
        base = chosen(by_setting, our_settings(by_setting, NO_PRETRAINING), budget)
        m = metrics[0]
        p, b = mean(by_setting[pre][budget][m]), mean(by_setting[base][budget][m])
        rows.append({"set": name, "target": f"{m} at {budget:.0%}: pretrained > no pretraining", "met": p > b,
                     "figures": f"{pre} {p:.3f} vs {base} {b:.3f} (each dev-chosen in its group)"})
    return rows


def spread(values: list[float]) -> str:
    return f"{mean(values):.3f} ± {float(np.std(values)):.3f}"


def curve_table(by_setting, anchor_curves, metrics: list[str], budgets: list[float]) -> list[str]:
    """Rows: shardvec's dev-chosen setting, every setting, every anchor; cells: mean ± sd over draws."""
    head = "| system | " + " | ".join(f"{m} @ {b:.0%}" for b in budgets for m in metrics) + " |"
    lines = [head, "|---" * (1 + len(budgets) * len(metrics)) + "|"]
    settings = our_settings(by_setting)
    picks = [chosen(by_setting, settings, b) for b in budgets]
    cells = [f"**{spread(by_setting[p][b][m])}** ({p})" for b, p in zip(budgets, picks) for m in metrics]
    lines.append("| **shardvec, dev-chosen** | " + " | ".join(cells) + " |")
    for name, curve in {**by_setting, **anchor_curves}.items():
        row = [spread(curve[b][m]) if b in curve else "n/a" for b in budgets for m in metrics]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return lines


def plot(name: str, by_setting, anchor_curves, metric: str, budgets: list[float], path: Path) -> None:
    from shardvec.plots import figure

    fig = figure(6.4, 4.2)
    axes = fig.add_subplot()
    settings = our_settings(by_setting)
    picks = [chosen(by_setting, settings, b) for b in budgets]
    without = [chosen(by_setting, our_settings(by_setting, NO_PRETRAINING), b) for b in budgets]
    lines = {"shardvec, dev-chosen": ([by_setting[p][b][metric] for b, p in zip(budgets, picks)], "-", 2.5),
             "shardvec, best without pretraining (dev-chosen)":
                 ([by_setting[p][b][metric] for b, p in zip(budgets, without)], ":", 1.5)}
    for anchor, curve in anchor_curves.items():
        lines[anchor] = ([curve[b][metric] for b in budgets], "--", 1.5)
    for label, (values, style, width) in lines.items():
        axes.errorbar(budgets, [mean(v) for v in values], yerr=[float(np.std(v)) for v in values], marker="o",
                      capsize=3, linestyle=style, linewidth=width, label=label)
    axes.set_xscale("log")
    axes.set_xticks(budgets, [f"{b:.0%}" for b in budgets])
    axes.minorticks_off()
    axes.set_xlabel("share of the training split with labels")
    axes.set_ylabel(f"test {metric}")
    axes.set_title(f"{name}: learning curve (mean ± sd over draws)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)


def markdown(result: dict[str, Any]) -> str:
    data, pre = result["data"], result["pretrain"]
    lock = f"under the benchmark lock `{LOCK}`" if result["lock_held"] else "WITHOUT the benchmark lock"
    ran = list(result["sets"])
    heading = SECTION if ran == list(SETS) else f"## Fine-tune, some sets: {', '.join(ran)}"
    lines = [heading, "", f"Command: `{result['command']}`", "",
             f"Total {result['seconds'] / 60:.1f} min (pretraining {'cached' if result['pretrain_cached'] else 'included'}), "
             f"{lock}, on 2 shared cores. Written by `bench/finetune_bench.py`; what it does is in its docstring.", "",
             "Sets (`bench/finetune_sets.py`; train / dev / test documents, classes in train from largest to "
             "smallest):", ""]
    for name in (n for n in CLASSIFY if n in ran):
        sizes, classes = data[name]["sizes"], data[name]["classes"]
        counts = list(classes.values())
        lines.append(f"* {name}: {sizes['train']:,} / {sizes['dev']:,} / {sizes['test']:,}; {len(classes)} classes, "
                     f"{counts[0]:,} to {counts[-1]:,} training documents each.")
    pos = data["brown-pos"]
    if "brown-pos" in ran:
        lines.append(f"* brown-pos: 11 tags; {pos['train']['sentences']:,} / {pos['dev']['sentences']:,} / "
                     f"{pos['test']['sentences']:,} sentences ({pos['train']['tokens']:,} training tokens), sampled "
                     "from the Brown split's files.")
    lines += [f"* Pretraining: `shardvec prepare` + `shardvec train` (periodic, d=100, skip-gram, 5 epochs) on "
              f"{pre['tokens']:,} tokens of real text without the {len(data['test_files'])} Brown test files, "
              "WordNet and the fortunes.",
              f"* shardvec finetune with its defaults (`conf/default.toml`), budgets "
              f"{', '.join(f'{b:.0%}' for b in result['budgets'])}, {result['repeats']} draws each; fastText and the "
              "TF-IDF + LR baseline train on the very same draws. *dev-chosen*: at each budget, the setting the "
              "report recommends there (the ensemble unless another setting's selection score beats it beyond noise; "
              "cross-validation on the budget's examples at 1% and 5%, dev above).",
              "* fastText supervised " + ("(Python `fasttext` module, dim 100, 2 threads), options chosen on dev "
                                          "macro-F1 at the full budget from epoch {5, 25} x lr {0.1, 0.5} x "
                                          "wordNgrams {1, 2}." if result["fasttext_available"] else
                                          "left out: the `fasttext` module is not installed."), ""]
    for name, s in result["sets"].items():
        metrics = ["macro_f1", "accuracy"] if name != "brown-pos" else ["accuracy"]
        lines += [f"### {name} (test)", "",
                  f"`shardvec finetune` report: {s['report_seconds']:.0f} s for {s['settings']} settings + baseline x "
                  f"{len(result['budgets'])} budgets x {result['repeats']} draws"
                  + (" (an earlier run's report of the same command and code, reused by --resume)." if s.get("reused")
                     else "."), ""]
        lines += curve_table(s["curves"], s["anchors"], metrics, s["budgets"]) + [""]
        weights = s["curves"].get(ENSEMBLE, {})
        if weights:
            lines += ["Ensemble weights chosen on the held-out units, by budget: " + "; ".join(
                f"{b:.0%} " + ", ".join(f"{m} {w:.2f}" for m, w in (weights[b]["weights"] or {}).items())
                for b in s["budgets"] if b in weights) + ".", ""]
        if name in result.get("fasttext", {}):
            params = {v: result["fasttext"][name][v]["params"] for v in ("fasttext", "fasttext+pretrained")}
            lines += [f"fastText options chosen on dev: {params['fasttext']} without, {params['fasttext+pretrained']} "
                      "with pretrained vectors.", ""]
        lines += [f"![{name} learning curve](plots/finetune_{name}.png)", ""]
    t = result.get("timing", {}).get("fits", {})
    ours = next((k for k in t if k.startswith("shardvec")), None)
    lines += [] if ours is None else ["### Fit time (Brown genres, full budget, one model)", "",
              "Interleaved in this run, median of "
              f"{len(t[ours]['all'])}: shardvec = read the files, build the features, train with the options the "
              "report chose (vectors in memory; loading the binary vectors took "
              f"{result['timing']['load_vectors_seconds']:.1f} s more); fastText = `train_supervised` on the same "
              "file (reading it, and with pretrained vectors the `.vec` text file).", "",
              "| fit | seconds | shardvec / this |", "|---|---|---|"]
    for name, v in t.items() if ours else ():
        lines.append(f"| {name} | {v['median']:.1f} | {t[ours]['median'] / v['median']:.2f}x |")
    lines += ["", "### Targets", "", "| set | target | result | figures |", "|---|---|---|---|"]
    yes = {True: "**met**", False: "**missed**"}
    for row in result["targets"]:
        lines.append(f"| {row['set']} | {row['target']} | {yes[row['met']]} | {row['figures']} |")
    if result.get("notes"):
        lines += ["", "### Notes", ""] + [f"* {n}" for n in result["notes"]]
    return "\n".join(lines) + "\n"


def time_genre_fits(result: dict[str, Any], work: Path, vectors: Path, fasttext, vec: Path | None,
                    repeats: int) -> None:
    """Time one fit of the genre set's dev-chosen setting beside fastText's, into ``result``."""
    genre = result["sets"]["brown-genre"]
    genre_report = json.loads((work / "shardvec-brown-genre" / "report.json").read_text())
    pick = chosen(genre["curves"], tuple(genre["curves"]), 1.0)
    params = {v: result["fasttext"]["brown-genre"][v]["params"] for v in ("fasttext", "fasttext+pretrained")} \
        if fasttext is not None else {}
    result["timing"] = time_fits(fasttext, work, vectors, vec, genre_report, pick, params, repeats)
    ours = result["timing"]["fits"][f"shardvec ({pick})"]["median"]
    for variant in ("fasttext", "fasttext+pretrained"):
        if variant in result["timing"]["fits"]:
            theirs = result["timing"]["fits"][variant]["median"]
            result["targets"].append({"set": "brown-genre", "target": f"one fit within 3x {variant}'s",
                                      "met": ours <= 3 * theirs, "figures": f"{ours:.1f} s vs {theirs:.1f} s = "
                                                                            f"{ours / theirs:.2f}x"})


# ---------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="draws per budget (default 3)")
    parser.add_argument("--wordnet", type=int, default=fsets.WORDNET_SAMPLE, help="WordNet synsets sampled")
    parser.add_argument("--pos-train", type=int, default=POS_SENTENCES["train"], help="POS training sentences (0: all)")
    parser.add_argument("--pos-dev", type=int, default=POS_SENTENCES["dev"], help="POS dev sentences (0: all)")
    parser.add_argument("--pos-test", type=int, default=POS_SENTENCES["test"], help="POS test sentences (0: all)")
    parser.add_argument("--time-repeats", type=int, default=3, help="runs of each timed fit")
    parser.add_argument("--vectors", type=Path, help="use these vectors instead of pretraining (smoke tests)")
    parser.add_argument("--resume", action="store_true",
                        help="reuse each set's finished shardvec report from the same command and code")
    parser.add_argument("--quick", action="store_true", help="small sets, 1 draw, 2 budgets; writes no RESULTS.md")
    parser.add_argument("--sets", default=",".join(SETS),
                        help="the sets to run, comma-separated (default: all); a subset writes its own section "
                             "of RESULTS.md, named after them, and times fits only with brown-genre")
    parser.add_argument("--quick-train", type=int, default=600, help=argparse.SUPPRESS)
    args = parser.parse_args()
    show_progress()  # the progress lines the command prints
    budgets = BUDGETS
    if args.quick:
        args.pos_train, args.pos_dev, args.pos_test, args.wordnet = 300, 100, 200, 3000
        args.repeats, args.time_repeats, budgets = 1, 1, [0.05, 1.0]
    started = time.perf_counter()
    work = realtext.cache_dir() / ("finetune-quick" if args.quick else "finetune-bench")
    work.mkdir(parents=True, exist_ok=True)
    data = write_sets(work, args)
    log(f"data: {json.dumps({k: v for k, v in data.items() if k != 'test_files'})[:2000]}")
    if args.vectors:
        vectors, pre, cached = args.vectors, {"tokens": 0, "directory": str(args.vectors)}, True
    else:
        vectors, pre, cached = pretrain(data["test_files"])
    fasttext = fasttext_module()
    vec = vec_file(vectors) if fasttext is not None else None
    result: dict[str, Any] = {"data": data, "pretrain": pre, "pretrain_cached": cached, "repeats": args.repeats,
                              "budgets": budgets, "fasttext_available": fasttext is not None, "sets": {},
                              "fasttext": {}, "targets": []}
    for name in (n for n in SETS if n in args.sets.split(",")):
        run = run_shardvec(name, work, vectors, args.repeats, budgets, args.resume)
        by_setting = curves(run["report"])
        section = run["report"]["classify" if name != "brown-pos" else "tag"]
        baseline = next(iter(section["baselines"]))
        shardvec_only = {n: c for n, c in by_setting.items() if n != baseline}
        floor = section["min_per_class"]
        if fasttext is not None and name != "brown-pos":
            result["fasttext"][name] = run_fasttext(fasttext, work, name, vec, budgets, args.repeats, floor,
                                                    1 if args.quick else len(FASTTEXT_GRID))
        found = anchors(by_setting, result["fasttext"].get(name), baseline)
        metrics = ["macro_f1", "accuracy"] if name != "brown-pos" else ["accuracy"]
        ran = section["budgets"]  # a budget is skipped only when some class has fewer than the floor in train
        result["sets"][name] = {"curves": shardvec_only, "anchors": found, "report_seconds": run["seconds"],
                                "settings": len(section["settings"]),
                                "draws": section["budget_draws"], "budgets": ran, "reused": run.get("reused", False),
                                "skipped": section["skipped_budgets"]}
        result["targets"] += set_targets(name, shardvec_only, found, metrics, ran)
        result["targets"] += [{"set": name, "target": f"budget {e['budget']:.0%} runs", "met": False,
                               "figures": e["reason"]} for e in section["skipped_budgets"]]
        if not args.quick:
            PLOTS.mkdir(exist_ok=True)
            plot(name, shardvec_only, found, metrics[0], ran, PLOTS / f"finetune_{name}.png")
    if "brown-genre" in result["sets"]:
        time_genre_fits(result, work, vectors, fasttext, vec, args.time_repeats)
    result["lock_held"] = lock_held()
    result["seconds"] = time.perf_counter() - started
    result["command"] = ((f"flock {LOCK} " if result["lock_held"] else "") +
                         ".venv/bin/python bench/finetune_bench.py " + " ".join(sys.argv[1:])).strip()
    (work / "finetune_bench.json").write_text(json.dumps(result, indent=1, default=str))
    section_text = markdown(result)
    if not args.quick and not args.vectors:
        results.write_section(section_text)
    print(section_text)


if __name__ == "__main__":
    main()

"""The human side of the report: Markdown with GitHub tables, PNG plots, a terminal summary.

Everything here reads the report dictionary only, so ``report.md`` and the
plots can be regenerated from ``report.json`` alone. Plots use matplotlib's
object API on an Agg canvas, leaving pyplot's global state alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shardvec.finetune.modes import TASKS
from shardvec.plots import figure as figure_of


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _budget(b: float) -> str:
    return f"{b:.0%}" if b >= 0.01 else f"{b:.1%}"


def _all(section: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The vector settings, then the baselines: every learning curve of the section."""
    return {**section["settings"], **section.get("baselines", {})}


def _model_markdown(section: dict[str, Any]) -> list[str]:
    m, sel = section["model"], section["selection"]
    parts = [f"dense part: {'one ReLU layer of ' + str(m['hidden']) + ' units' if m['hidden'] else 'linear'}"]
    if "weighting" in m:
        parts[0] += f" over the {m['weighting']}-weighted average of the word vectors"
        if m["bigram_buckets"]:
            parts[0] += f" and {m['bigram_buckets']:,} bigram buckets"
    else:
        parts[0] += f" over a window of {m['window']} words on each side"
    if m["lexical"]:
        what = f"word 1- to {m['lexical_ngrams']}-grams, TF-IDF" if "lexical_ngrams" in m else "word, shape and affix features"
        parts.append(f"lexical part: {what} ({m.get('lexical_features', 0):,} features)")
        if "bigram_lexical_features" in m:
            parts.append(f"the +bigrams settings' lexical part: word 1- and 2-grams, TF-IDF "
                         f"({m['bigram_lexical_features']:,} features)")
    else:
        parts.append("no lexical part")
    by = sel["by"] if sel["by"] != "auto" else (f"auto: cross-validation when dev has fewer than {sel['dev_below']} "
                                                 f"examples or the budget is at most {_budget(sel['budget_upto'])}")
    return [f"Model: {'; '.join(parts)}. Selection of the learning rate (and epochs) at each budget: {by} "
            f"({sel['folds']} folds); used: " +
            ", ".join(f"{_budget(float(b))} {how}" for b, how in sel["by_budget"].items()) + ".", ""]


def _choice(point: dict[str, Any]) -> str:
    return f"{point['choice']}, {point['selection']}"


def _task_markdown(kind: str, section: dict[str, Any], primary: str) -> list[str]:
    metric, settings, best = section["metric"], section["settings"], section["best"]["setting"]
    everything = _all(section)
    lines = [f"## {kind}: settings compared", "",
             f"Full training split, {section['repeats']} repeat(s); headline score **{metric}**. "
             f"Best: **{best}** ({section['best']['chosen_on']}); each run scores the test split once. "
             f"Primary setting: {primary}. Class weights: {section['class_weight']}; epochs chosen on "
             f"{section['select_on']}; learning rate chosen per setting and budget from "
             f"{', '.join(f'{lr:g}' for lr in section['learning_rates'])}. Baselines (no vectors): "
             f"{', '.join(section.get('baselines', {})) or 'none'}.", ""]
    lines += _model_markdown(section)
    rows = []
    for name, s in everything.items():
        mark = f"**{name}**" if name == best else name
        coverage = s["coverage"]["test"] if "coverage" in s else None
        rows.append([mark, s["description"], _choice(s["curve"][-1]), s["dev_score"], s["test_score"]["mean"],
                     s["test_score"]["std"], s["test_means"].get("accuracy"), coverage, f"{s['seconds']:.1f}"])
    lines += _table(["setting", "vectors", "chosen (by)", f"dev {metric}", f"test {metric}", "± std",
                     "test accuracy", "test token coverage", "seconds"], rows)
    lines += _verdict_markdown(section)
    lines += [f"### {kind}: learning curve (test {metric}, mean ± std; choice and how it was made)", ""]
    budgets = section["budgets"]
    header = ["setting"] + [f"{_budget(b)} ({settings[best]['curve'][i]['train_units']})" for i, b in enumerate(budgets)]
    rows = [[name] + [f"{c['test_score']['mean']:.4f} ± {c['test_score']['std']:.4f} ({_choice(c)})"
                      for c in s["curve"]] for name, s in everything.items()]
    recommended = section.get("recommended", {})
    if recommended:  # the setting to use at each budget, chosen without test scores
        rows.insert(0, ["**recommended**"] + [
            f"**{settings[n]['curve'][i]['test_score']['mean']:.4f}** ({n})"
            for i, n in enumerate(recommended[str(b)] for b in budgets)])
    lines += _table(header, rows)
    lines += [f"- budget {_budget(e['budget'])} skipped: {e['reason']}" for e in section["skipped_budgets"]]
    lines += ["", f"![learning curve](learning_curve_{kind}.png)", ""]
    lines += _draws_markdown(kind, section)
    metrics = settings[best]["test_metrics"]
    per = metrics.get("per_type") or metrics["per_class"]
    lines += [f"### {kind}: {best} per {'entity type' if 'per_type' in metrics else 'class'} (test, first repeat)", ""]
    lines += _table(["label", "precision", "recall", "F1", "support"],
                    [[k, v["precision"], v["recall"], v["f1"], v["support"]] for k, v in per.items()])
    confusion = metrics.get("confusion")
    if confusion:
        labels = confusion["labels"]
        lines += ["Confusion matrix (rows: true, columns: predicted):", ""]
        lines += _table(["true \\ predicted"] + labels, [[l] + row for l, row in zip(labels, confusion["matrix"])])
        lines += [f"![confusion matrix](confusion_{kind}.png)", ""]
    else:
        lines += ["No confusion matrix: examples may carry several labels.", ""]
    return lines


def verdict_lines(section: dict[str, Any]) -> list[str]:
    """Plain sentences: does pretraining help at each budget, and is the best setting told apart from the rest."""
    v = section["verdict"]
    lines = []
    for t in v["transfer"]:
        lines.append(f"at {_budget(t['budget'])}: {t['pretrained']} vs {t['without']} (no pretraining): "
                     f"{t['difference']:+.4f} {section['metric']}, noise ±{t['noise']:.4f}: {t['verdict']}")
    ties = v["within_noise_of_best"]
    if ties:
        lines.append(f"recommended on {('dev' if section['best']['chosen_on'].startswith('mean dev') else 'cross-validation')}: "
                     f"{v['best']}, but within noise of {', '.join(ties)} at the full budget "
                     f"({v['test_examples']} test examples): this data cannot tell them apart")
    else:
        lines.append(f"recommended: {v['best']}, ahead of every other setting by more than the noise at the full budget")
    return lines


def _verdict_markdown(section: dict[str, Any]) -> list[str]:
    return ["What the differences mean (two standard errors from the repeats and the test split's size):", ""] + \
        [f"- {line}" for line in verdict_lines(section)] + [""]


def _counts(values: list[int]) -> str:
    """One draw's count, or the range over draws."""
    return str(values[0]) if min(values) == max(values) else f"{min(values)}-{max(values)}"


def _draws_markdown(kind: str, section: dict[str, Any]) -> list[str]:
    """What each budget's draws actually hold: units in total and examples of every class."""
    draws = section["budget_draws"]
    unit = TASKS[kind].examples_name
    lines = [f"### {kind}: examples per budget and class (range over the {section['repeats']} draw(s))", "",
             f"Each class gets its share of the budget but at least {section['min_per_class']} {unit}.", ""]
    header = ["class"] + [_budget(d["budget"]) for d in draws]
    rows = [["all (units)"] + [_counts(d["units"]) for d in draws]]
    rows += [[label] + [_counts(d["per_class"][label]) for d in draws] for label in section["labels"]]
    return lines + _table(header, rows)


def markdown(report: dict[str, Any]) -> str:
    data, vectors = report["data"], report["vectors"]
    lines = ["# shardvec finetune report", "",
             f"- modes: {', '.join(report['modes'])}",
             f"- vectors: `{vectors['source']}` ({vectors['vocab_size']} words, {vectors['dim']} dimensions, "
             f"{'with' if vectors['has_model'] else 'without'} the trainable model)",
             f"- data: {', '.join(f'{k} `{v}`' for k, v in data['sources'].items())} "
             f"({data['format']}, {data['units']})",
             f"- seconds: {report['seconds']}", "", "## Splits", ""]
    lines += _table(["split", data["units"], "labels"],
                    [[name, n, ", ".join(f"{k} {v}" for k, v in list(data["label_counts"][name].items())[:12])]
                     for name, n in data["splits"].items()])
    for kind in TASKS:
        if kind in report:
            lines += _task_markdown(kind, report[kind], report["primary"])
    if report.get("adapt"):
        a = report["adapt"]
        lines += ["## adapt", ""]
        lines += _table(["key", "value"], [[k, v] for k, v in a.items() if k != "params"])
    if report.get("intrinsic"):
        lines += ["## Intrinsic scores", "", "Share of questions or pairs skipped as out of vocabulary in brackets.", ""]
        rows = []
        for name, s in report["intrinsic"].items():
            if "skipped" in s:
                rows.append([name, s["vocab_size"], s["skipped"], "", ""])
                continue
            a, w, x = s["analogy"], s["wordsim353"], s["simlex999"]
            rows.append([name, s["vocab_size"], f"{_cell(a['accuracy'])} ({a['oov_share']:.0%})",
                         f"{_cell(w['spearman'])} ({w['oov_share']:.0%})", f"{_cell(x['spearman'])} ({x['oov_share']:.0%})"])
        lines += _table(["vectors", "words", "analogy accuracy", "WordSim353 Spearman", "SimLex-999 Spearman"], rows)
    return "\n".join(lines)


def plot_learning_curve(section: dict[str, Any], path: Path) -> None:
    figure = figure_of(6.4, 4.2)
    axes = figure.add_subplot()
    for name, s in _all(section).items():
        budgets = [c["budget"] for c in s["curve"]]
        means = [c["test_score"]["mean"] for c in s["curve"]]
        stds = [c["test_score"]["std"] for c in s["curve"]]
        style = "--" if name not in section["settings"] else "-"
        axes.errorbar(budgets, means, yerr=stds, marker="o", capsize=3, label=name, linestyle=style)
    axes.set_xscale("log")
    axes.set_xticks(section["budgets"], [_budget(b) for b in section["budgets"]])
    axes.minorticks_off()
    axes.set_xlabel("share of the training split with labels")
    axes.set_ylabel(f"test {section['metric']}")
    axes.set_title("learning curve (mean ± std over repeats)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)


def plot_confusion(confusion: dict[str, Any], title: str, path: Path) -> None:
    labels, matrix = confusion["labels"], np.asarray(confusion["matrix"])
    size = 2.5 + 0.45 * len(labels)
    figure = figure_of(size + 1, size)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    if len(labels) <= 20:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (i, j), n in np.ndenumerate(matrix):
            axes.text(j, i, str(n), ha="center", va="center", color="white" if n > threshold else "black",
                      fontsize="small")
    figure.colorbar(image)
    figure.tight_layout()
    figure.savefig(path)


def write_plots(report: dict[str, Any], directory: Path) -> list[str]:
    """The learning curve and best-setting confusion matrix of each task; returns file names."""
    written = []
    for kind in TASKS:
        section = report.get(kind)
        if not section:
            continue
        plot_learning_curve(section, directory / f"learning_curve_{kind}.png")
        written.append(f"learning_curve_{kind}.png")
        best = section["best"]["setting"]
        confusion = section["settings"][best]["test_metrics"].get("confusion")
        if confusion:
            plot_confusion(confusion, f"{kind}: {best} (test, first repeat)", directory / f"confusion_{kind}.png")
            written.append(f"confusion_{kind}.png")
    return written


def format_summary(report: dict[str, Any]) -> str:
    """A short table for the terminal: each setting's dev and test score, the recommended one marked."""
    lines = []
    for kind in TASKS:
        section = report.get(kind)
        if not section:
            continue
        metric, best = section["metric"], section["best"]["setting"]
        lines.append(f"{kind}: {metric} at the full budget, {section['repeats']} repeat(s)")
        width = max(18, *(len(name) + 1 for name in _all(section)))
        lines.append(f"  {'setting':<{width}}{'dev':>8}{'test':>10}{'± std':>9}{'seconds':>9}")
        tied = section["verdict"]["within_noise_of_best"]
        for name, s in _all(section).items():
            mark = ("  <- recommended" + (" (within noise)" if tied else "")) if name == best else ""
            lines.append(f"  {name:<{width}}{s['dev_score']:>8.4f}{s['test_score']['mean']:>10.4f}"
                         f"{s['test_score']['std']:>9.4f}{s['seconds']:>9.1f}{mark}")
        lines += [f"  {line}" for line in verdict_lines(section)]
        lines += [f"  skipped budget {_budget(e['budget'])}: {e['reason']}" for e in section["skipped_budgets"]]
    if report.get("adapt"):
        a = report["adapt"]
        lines.append(f"adapt: {a['words_added']} words added, {a['epochs']} epochs, output weights {a['output_weights']}")
    lines.append(f"report: {report['output']}/report.md ({report['seconds']} s)")
    return "\n".join(lines)

"""The comparison: every vector setting and the classical baseline x every label budget x repeats, on the same splits.

Subsets and seeds depend only on the split seed, the budget and the repeat,
never on the setting, so settings are compared on identical training data
and identical shuffles. At every setting and budget each candidate of the
training options (the learning rates of the search; the baseline's ``C``)
is scored on dev or by cross-validation on the budget's own examples
(:mod:`shardvec.finetune.selection`; each fit's score cross-fitted, see
:mod:`shardvec.finetune.heldout`), over all repeats, and the best mean
score is kept (ties: lower loss); only its runs then score the test split,
once each. Settings named in ``finetune.ensemble`` also keep their
probabilities, which :mod:`shardvec.finetune.ensemble` weighs into one
more setting. Vector settings named in ``finetune.bigram_settings`` run
once more, after the baseline, with word bigrams in the lexical part
(classify; ``<setting>+bigrams``): on WordNet glosses at the full budget the
ensemble's accuracy trailed fastText's with ``wordNgrams 2`` until such a
member could join it, while on Brown genres bigrams for every setting scored
lower at every budget (``bench/RESULTS.md``). At each budget one setting is recommended
(:mod:`shardvec.finetune.recommend`: the ensemble unless a setting's
selection scores beat it beyond noise); the best setting is the one
recommended at the full budget. Test scores play no part in any choice.

Why search per budget: the best step size depends on how many updates an
epoch makes. On Brown genres (adapted vectors, balanced weights) dev macro-F1
peaked at learning rate 0.5 with 1% of the labels (0.194 against 0.176 at
0.1) and at 0.1 with all of them (0.358 against 0.339 at 0.5), so any single
rate gives up one end of the learning curve.

What is built once and shared: the lexical features (one sparse matrix for
the report, and one with bigrams for the settings that run with them), the
term weights, each setting's word table and encoder (copied per run only
when the run trains its rows), and the adapted vectors
(:mod:`shardvec.finetune.vectorsets`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import scipy.sparse as sp

from shardvec.finetune.baseline import BaselineOptions, fit_baseline
from shardvec.finetune.classifier import Architecture, TrainOptions, decide, fit
from shardvec.finetune.curve import TEST_METRICS, point, summary
from shardvec.finetune.ensemble import NAME as ENSEMBLE
from shardvec.finetune.ensemble import Ensemble, Held, Outputs
from shardvec.finetune.features import Encoder, SparseRows, TermWeights, WordTable
from shardvec.finetune.heldout import Halves, scorer
from shardvec.finetune.recommend import recommend, resampling_error
from shardvec.finetune.selection import Selection
from shardvec.finetune.splits import budget_subset, fold_units, short_classes
from shardvec.finetune.task import ModelOptions, Task
from shardvec.finetune.vectorsets import BIGRAMS, DESCRIPTIONS, VectorSet
from shardvec.finetune.verdict import verdict
from shardvec.logs import stage_logger

log = stage_logger(__name__, "finetune")


@dataclass(frozen=True)
class CurveOptions:
    budgets: list[float]
    repeats: int
    seed: int
    min_per_class: int  # the floor of every class in a budget's draw
    candidates: list[TrainOptions]  # tried at every setting and budget; the best is kept
    model: ModelOptions
    selection: Selection
    baseline: list[BaselineOptions]  # the baseline's candidates; empty: no baseline
    ensemble: list[str] = field(default_factory=list)  # the settings (and baseline) weighed into ENSEMBLE
    bigram_settings: list[str] = field(default_factory=list)  # vector settings run once more with word bigrams
    ensemble_weights: str = "greedy"  # how their weights are chosen per budget: greedy or equal
    ensemble_prior_powers: tuple[float, ...] = (0.0,)  # the powers of the class shares the ensemble may divide by
    prefer_ensemble: bool = True  # recommend the ensemble unless a setting beats it beyond noise (recommend.py)


@dataclass(frozen=True)
class Trained:
    """The full-budget first-repeat run of a setting whose vectors were updated."""

    words: WordTable
    encoder: Encoder


class Model(Protocol):
    """A trained model as the experiment sees it: predictions and its dev history."""

    best_epoch: int
    epochs_run: int
    dev_losses: list[float]
    dev_scores: list[float]
    held_probabilities: np.ndarray  # what selection scores: see shardvec.finetune.heldout
    selection_score: float

    def predict(self, items: np.ndarray) -> np.ndarray: ...

    def predict_proba(self, items: np.ndarray) -> np.ndarray: ...


class Candidate(Protocol):
    @property
    def label(self) -> str: ...

    def describe(self) -> dict[str, Any]: ...

    def fixed(self, epochs: int) -> Any: ...


class Learner(Protocol):
    """What trains: a vector setting's model, or the baseline."""

    candidates: Sequence[Candidate]

    def fit(self, train: np.ndarray, held: np.ndarray, candidate: Any, seed: int,
            score: Callable[[np.ndarray], float], halves: Halves | None) -> Model: ...


class VectorLearner:
    """The fine-tune model over one setting's vectors; each run trains its own copy of them."""

    def __init__(self, task: Task, prototype: Encoder, architecture: Architecture, candidates: list[TrainOptions]):
        self.task, self.prototype, self.architecture, self.candidates = task, prototype, architecture, candidates

    def fit(self, train, held, candidate, seed, score, halves):
        return fit(self.prototype.fresh(), self.architecture, self.task.targets, train, held, candidate,
                   self.task.multilabel, seed, score, halves)


class BaselineLearner:
    def __init__(self, task: Task, lexical: sp.csr_matrix, candidates: list[BaselineOptions]):
        self.task, self.lexical, self.candidates = task, lexical, candidates

    def fit(self, train, held, candidate, seed, score, halves):  # one fit: no epochs for halves to choose
        return fit_baseline(self.lexical, self.task.targets, train, held, candidate, self.task.multilabel, score)


@dataclass(frozen=True)
class Fitted:
    """One repeat's trained model, not yet scored on test."""

    units: np.ndarray
    model: Any  # a Model
    seconds: float


def run_seed(seed: int, budget: float, repeat: int, *more: int) -> int:
    return int(np.random.SeedSequence([seed, int(round(budget * 1_000_000)), repeat, *more]).generate_state(1)[0])


def plan_budgets(task: Task, options: CurveOptions) -> tuple[dict[float, list[np.ndarray]], list[dict[str, Any]],
                                                             list[dict[str, Any]]]:
    """Training units of every (budget, repeat), what each draw holds, and the budgets that cannot run.

    A budget below the full split is skipped only when some class has fewer
    than ``min_per_class`` examples in the whole training split: then no
    draw can give it its floor.
    """
    plan: dict[float, list[np.ndarray]] = {}
    draws, skipped = [], []
    short = short_classes(task.label_counts(task.split.train), options.min_per_class)
    for budget in sorted(set(options.budgets) | {1.0}):
        if budget < 1.0 and short:
            skipped.append({"budget": budget, "reason": f"{len(short)} class(es) have fewer than "
                                                        f"{options.min_per_class} examples in the whole training "
                                                        f"split: {', '.join(short[:10])}"})
            continue
        plan[budget] = [budget_subset(task.split.train, task.data.labels, task.stratified, budget,
                                      options.min_per_class, run_seed(options.seed, budget, r))
                        for r in range(options.repeats)]
        counts = [task.label_counts(s) for s in plan[budget]]
        draws.append({"budget": budget, "units": [len(s) for s in plan[budget]],
                      "per_class": {label: [c.get(label, 0) for c in counts] for label in task.labels}})
    return plan, draws, skipped


def _kept(model: Model) -> tuple[float, float]:
    """A model's selection score on held-out examples and its lowest held-out loss."""
    return model.selection_score, min(model.dev_losses)


def _halves(task: Task, units: np.ndarray, options: CurveOptions, seed: int) -> Halves | None:
    return Halves.of(task, units, seed) if options.selection.cross_fit else None


def fit_repeats(task: Task, learner: Learner, subsets: list[np.ndarray], budget: float, options: CurveOptions,
                candidate: Any, selecting: bool = True) -> list[Fitted]:
    """Every repeat of one budget with one candidate, held out on dev; dev only. ``selecting``: dev's scores
    choose (so they are cross-fitted), rather than only being recorded."""
    dev = task.examples(task.split.dev)
    runs = []
    for repeat, units in enumerate(subsets):
        start = time.perf_counter()
        seed = run_seed(options.seed, budget, repeat)
        model = learner.fit(task.examples(units), dev, candidate, seed, scorer(task, task.split.dev),
                            _halves(task, task.split.dev, options, seed) if selecting else None)
        runs.append(Fitted(units, model, round(time.perf_counter() - start, 3)))
    return runs


def cross_validate(task: Task, learner: Learner, subsets: list[np.ndarray], budget: float, options: CurveOptions,
                   candidate: Any) -> tuple[list[float], float, int, Held]:
    """Held-out score of ``candidate`` in every fold of every repeat, its mean loss, the median kept epoch,
    and every fold's held-out units with their predicted probabilities."""
    scores, losses, epochs, held_out = [], [], [], []
    for repeat, units in enumerate(subsets):
        folds = fold_units(units, task.data.labels, task.stratified, options.selection.folds,
                           run_seed(options.seed, budget, repeat))
        for f, held in enumerate(folds):
            train = np.concatenate([part for j, part in enumerate(folds) if j != f])
            fold_seed = run_seed(options.seed, budget, repeat, f + 1)
            model = learner.fit(task.examples(train), task.examples(held), candidate, fold_seed, scorer(task, held),
                                _halves(task, held, options, fold_seed))
            score, loss = _kept(model)
            scores.append(score)
            losses.append(loss)
            epochs.append(model.best_epoch)
            held_out.append((held, model.held_probabilities))
    return scores, float(np.mean(losses)), int(np.median(epochs)), held_out


@dataclass(frozen=True)
class Choice:
    """What one budget's search kept, and how it was chosen."""

    candidate: Any
    fitted: list[Fitted]
    tried: list[dict[str, Any]]
    method: str  # dev or cv
    scores: list[float]  # the kept candidate's selection score per held-out entry (repeat, or repeat and fold)
    held: Held | None  # cv: the kept candidate's folds and their probabilities (dev: the runs' own)


def search(task: Task, learner: Learner, subsets: list[np.ndarray], budget: float, options: CurveOptions) -> Choice:
    """The candidate with the best mean selection score (ties: lower loss), its runs, and every candidate's record."""
    method = options.selection.method(len(task.examples(task.split.dev)), budget)
    if min(len(s) for s in subsets) < 2:  # one unit cannot be split into folds
        method = "dev"
    best_key, best, tried = None, None, []
    for candidate in learner.candidates:
        start = time.perf_counter()
        if method == "dev":
            runs = fit_repeats(task, learner, subsets, budget, options, candidate)
            scores, losses = zip(*(_kept(f.model) for f in runs))
            loss, epochs, held = float(np.mean(losses)), 0, None
        else:
            runs = None
            scores, loss, epochs, held = cross_validate(task, learner, subsets, budget, options, candidate)
        score = float(np.mean(scores))
        tried.append({**candidate.describe(), f"{method}_score": round(score, 5), f"{method}_loss": round(loss, 5),
                      "seconds": round(time.perf_counter() - start, 3)})
        if best_key is None or (score, -loss) > best_key:
            best_key, best = (score, -loss), (candidate, runs, epochs, held, list(scores))
    candidate, runs, epochs, held, scores = best
    if runs is None:
        candidate = candidate.fixed(max(epochs, 1))
        runs = fit_repeats(task, learner, subsets, budget, options, candidate, selecting=False)
    return Choice(candidate, runs, tried, method, scores, held)


def run_curve(task: Task, learner: Learner, plan: dict[float, list[np.ndarray]], options: CurveOptions,
              keep: bool = False) -> tuple[dict[str, Any], Fitted, dict[float, Outputs], dict[float, Held]]:
    """Every budget and repeat of one learner: its report entry, its first full-budget run, (``keep``: for
    the ensemble) every budget's probabilities, and every budget's held-out probabilities (for
    :func:`shardvec.finetune.recommend.resampling_error`)."""
    started = time.perf_counter()
    dev, test = task.examples(task.split.dev), task.examples(task.split.test)
    curve, outputs, held, first, first_test = [], {}, {}, None, None
    for budget, subsets in plan.items():
        t0 = time.perf_counter()
        choice = search(task, learner, subsets, budget, options)
        # chosen on dev: the runs held out dev
        held[budget] = choice.held or [(task.split.dev, f.model.held_probabilities) for f in choice.fitted]
        runs, kept = [], Outputs(choice.method, held[budget], [], [], [])
        for repeat, f in enumerate(choice.fitted):
            probabilities = f.model.predict_proba(test)
            test_metrics = task.score(task.split.test, decide(probabilities, task.multilabel))
            runs.append({"repeat": repeat, "train_units": len(f.units),
                         "dev_score": f.model.dev_scores[f.model.best_epoch - 1],
                         "test_score": test_metrics[task.metric], "best_epoch": f.model.best_epoch,
                         "epochs_run": f.model.epochs_run, "dev_losses": f.model.dev_losses,
                         "dev_scores": f.model.dev_scores, "seconds": f.seconds,
                         "test": {k: test_metrics[k] for k in TEST_METRICS if k in test_metrics}})
            if keep:
                kept.dev.append(f.model.predict_proba(dev))
                kept.test.append(probabilities)
                kept.seconds.append(f.seconds)
            if budget == 1.0 and repeat == 0:
                first, first_test = f, test_metrics
        if keep:
            outputs[budget] = kept
        curve.append({**point(budget, len(subsets[0]), runs, **choice.candidate.describe(),
                              choice=choice.candidate.label, selection=choice.method,
                              selection_score=round(float(np.mean(choice.scores)), 5),
                              selection_scores=[round(float(s), 5) for s in choice.scores], search=choice.tried),
                      "seconds": round(time.perf_counter() - t0, 3)})
    dev_loss = float(np.mean([min(r["dev_losses"]) for r in curve[-1]["runs"]]))
    return ({**summary(curve, dev_loss, first_test), "seconds": round(time.perf_counter() - started, 2)},
            first, outputs, held)


def _log_summary(task_name: str, name: str, entry: dict[str, Any], metric: str) -> None:
    choices = ", ".join(f"{c['choice']} ({c['selection']})" for c in entry["curve"])
    log.info(f"{task_name}/{name}: test {metric} {entry['test_score']['mean']:.4f} "
             f"± {entry['test_score']['std']:.4f} (dev {entry['dev_score']:.4f}; by budget {choices}; "
             f"{entry['seconds']:.1f} s)")


def run_setting(task: Task, vectors: VectorSet, plan: dict[float, list[np.ndarray]], options: CurveOptions,
                architecture: Architecture, weights: TermWeights | None, bigrams: bool = False,
                ) -> tuple[dict[str, Any], Trained | None, dict[float, Outputs], dict[float, Held]]:
    """All budgets and repeats of one vector setting (its probabilities, when the ensemble takes it, and its
    held-out probabilities); ``bigrams``: its run with word bigrams (``architecture`` holds them)."""
    started = time.perf_counter()
    words = WordTable(vectors.kv, task.data.tokens)
    prototype = task.encoder(words, vectors.update, options.model, weights)
    entry, first, outputs, held = run_curve(task, VectorLearner(task, prototype, architecture, options.candidates),
                                            plan, options, keep=vectors.name in options.ensemble)
    description = DESCRIPTIONS[vectors.name] + (", word bigrams in the lexical part" if bigrams else "")
    entry = {"description": description, "vocab_size": len(vectors.kv),
               "coverage": {name: words.coverage([task.data.tokens[u] for u in getattr(task.split, name)])
                            for name in ("train", "test")},
               **entry, "seconds": round(time.perf_counter() - started, 2)}
    _log_summary(task.name, vectors.name + (BIGRAMS if bigrams else ""), entry, task.metric)
    return entry, Trained(words, first.model.encoder) if vectors.update else None, outputs, held


def run_baseline(task: Task, plan: dict[float, list[np.ndarray]], options: CurveOptions,
                 lexical: sp.csr_matrix) -> tuple[dict[str, Any], dict[float, Outputs]]:
    """The classical baseline on the same plan (and its probabilities, when the ensemble takes it)."""
    entry, _, outputs, _ = run_curve(task, BaselineLearner(task, lexical, options.baseline), plan, options,
                                     keep=task.baseline in options.ensemble)
    entry = {"description": task.baseline_description, "features": lexical.shape[1], **entry}
    _log_summary(task.name, task.baseline, entry, task.metric)
    return entry, outputs


def _add_resampling_errors(task: Task, results: dict[str, Any], held: dict[str, dict[float, Held]], prefer: str,
                           budgets: list[float], seed: int) -> None:
    """Give each curve point that out-scores ``prefer``'s its ``resampling_error`` against it (the others
    cannot beat it, whatever the noise)."""
    sizes = np.diff(task.offsets)

    def score(units: np.ndarray, probabilities: np.ndarray) -> float:
        return task.score(units, decide(probabilities, task.multilabel))[task.metric]

    for name, entry in results.items():
        if name == prefer:
            continue
        for point, incumbent, budget in zip(entry["curve"], results[prefer]["curve"], budgets):
            if point["selection_score"] > incumbent["selection_score"]:
                point["resampling_error"] = round(resampling_error(held[name][budget], held[prefer][budget],
                                                                   score, sizes, seed), 5)


def compare(task: Task, sets: dict[str, VectorSet], options: CurveOptions) -> tuple[dict[str, Any], dict[str, Trained]]:
    """The task's section of the report, and the updated vectors of fine-tuned settings."""
    plan, draws, skipped = plan_budgets(task, options)
    for entry in skipped:
        log.info(f"budget {entry['budget']:g} skipped: {entry['reason']}")
    model = options.model
    lexical = task.lexical(model) if model.lexical else None
    baseline_lexical = task.baseline_features(model, lexical) if options.baseline else None
    architecture = Architecture(model.hidden, SparseRows(lexical) if lexical is not None else None)
    weights = task.term_weights(model)
    results, trained, held = {}, {}, {}
    ensemble = Ensemble(options.ensemble_weights, options.ensemble_prior_powers)
    for name, vectors in sets.items():
        results[name], done, outputs, held[name] = run_setting(task, vectors, plan, options, architecture, weights)
        ensemble.add(name, outputs)
        if done is not None:
            trained[name] = done
    baselines = {}
    if baseline_lexical is not None and baseline_lexical.shape[1]:
        baselines[task.baseline], outputs = run_baseline(task, plan, options, baseline_lexical)
        ensemble.add(task.baseline, outputs, lead=False)
    elif options.baseline:
        log.info("baseline skipped: the training texts hold no words for it")
    twice = [sets[n] for n in options.bigram_settings if n in sets]
    bigrams = task.bigram_lexical(model) if twice else None
    if options.bigram_settings and bigrams is None:
        why = "the task has no bigrams to add" if twice else f"{', '.join(options.bigram_settings)} not compared"
        log.info(f"no setting runs with bigrams: {why}")
    if bigrams is not None:
        with_bigrams = Architecture(model.hidden, SparseRows(bigrams))
        for vectors in twice:
            name = vectors.name + BIGRAMS
            results[name], _, outputs, held[name] = run_setting(task, vectors, plan, options, with_bigrams, weights,
                                                                bigrams=True)
            ensemble.add(name, outputs)
    if len(ensemble.members) >= 2:
        results[ENSEMBLE] = ensemble.summary(
            task, plan,
            # halves of their own, drawn apart from the members' (each choice leaks a little either way)
            lambda budget, entry, units: _halves(task, units, options, run_seed(options.seed, budget, entry, 0)))
        held[ENSEMBLE] = ensemble.held_out
        _log_summary(task.name, ENSEMBLE, results[ENSEMBLE], task.metric)
    elif options.ensemble:
        log.info(f"ensemble skipped: fewer than two of its members ran ({', '.join(ensemble.members) or 'none'})")
    prefer = ENSEMBLE if options.prefer_ensemble and ENSEMBLE in results else None
    if prefer:
        _add_resampling_errors(task, results, held, prefer, list(plan), options.seed)
    best = recommend({n: s["curve"][-1] for n, s in results.items()}, prefer,
                     key=lambda n: (results[n]["selection_score"], -results[n]["dev_loss"]))
    recommended = [recommend({n: s["curve"][i] for n, s in results.items()}, prefer)
                   for i in range(len(plan) - 1)] + [best]
    unless = "; the ensemble unless a setting beats it beyond noise" if prefer else ""
    chosen_on = {"dev": f"mean dev {task.metric} at the full budget{unless}",
                 "cv": f"mean {options.selection.folds}-fold cross-validated {task.metric} at the full budget{unless}"}
    section = {
        "metric": task.metric, "labels": task.labels, "multilabel": task.multilabel, "bio": task.bio,
        "budgets": list(plan), "skipped_budgets": skipped, "repeats": options.repeats,
        "min_per_class": options.min_per_class, "budget_draws": draws,
        "class_weight": options.candidates[0].class_weight, "select_on": options.candidates[0].select_on,
        "learning_rates": list(dict.fromkeys(c.learning_rate for c in options.candidates)),
        "lexical_l2": list(dict.fromkeys(c.lexical_l2 for c in options.candidates if c.lexical_l2 is not None)),
        "model": {**task.describe_model(model, lexical),
                  **({"bigram_lexical_features": bigrams.shape[1]} if bigrams is not None else {})},
        "selection": {"by": options.selection.by, "folds": options.selection.folds,
                      "dev_below": options.selection.dev_below, "budget_upto": options.selection.budget_upto,
                      "cross_fit": options.selection.cross_fit,
                      "by_budget": {str(c["budget"]): c["selection"] for c in results[best]["curve"]}},
        "best": {"setting": best, "chosen_on": chosen_on[results[best]["selection"]],
                 "dev_score": results[best]["dev_score"], "selection_score": results[best]["selection_score"],
                 "test_score": results[best]["test_score"]},
        "prefer": prefer,
        "recommended": {str(b): name for b, name in zip(plan, recommended)},
        "settings": results,
        "baselines": baselines,
    }
    test = results[best]["test_metrics"]
    section["verdict"] = verdict(section, test.get("examples", test.get("entities", 0)))
    return section, trained

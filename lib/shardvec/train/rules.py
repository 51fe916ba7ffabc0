"""Merge rules: how a round's shard results become the next round's start.

Every rule is one small class behind one registry (``RULES``) that the Dask
job, ``api.train``, the config and the CLI read. A rule says

- whether it merges every round (``periodic``) or once, after shards train
  independently;
- what shards send: whole ``weights`` (the rules of the first train stage,
  kept bit for bit) or ``deltas``, the rows each shard changed in the round
  (:mod:`shardvec.train.deltas`);
- its local learning-rate multiplier (``lr_multiplier``) and how often it
  merges (``rounds_per_epoch``);
- for delta rules, how two deltas combine (``pair``, one node of the fan-in-2
  reduction tree, applied in index order: ((0, 1), (2, 3)), ...) and how the
  combined delta becomes the update every worker adds to its copy of the
  model (``step``), with whatever state the rule keeps between rounds
  (checkpointed with the weights).

Adding a rule is one class with ``@register`` and its tests (docs/extending.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, TypeVar

import numpy as np

from shardvec.config import TrainConfig
from shardvec.errors import ConfigError
from shardvec.train.deltas import Delta, Rows, combine

RULES: dict[str, type["MergeRule"]] = {}
# Parts per node of the reduction tree: every worker receives at most two parts per node.
REDUCE_FANIN = 2
# Merges per epoch of the rules that merge every round, unless train.rounds_per_epoch or train.sync_words says.
DEFAULT_ROUNDS_PER_EPOCH = 10
T = TypeVar("T")


def reduce_tree(items: list[T], node: Callable[[list[T], int, int], T]) -> list[T]:
    """Combine ``items`` REDUCE_FANIN at a time in index order, level by level, until at most REDUCE_FANIN remain.

    ``node(group, level, i)`` makes one node from consecutive items; the
    Dask job submits a task there, a rule computes it. The same order in both
    is what makes a non-associative rule (AdaSum) give the same result in a
    test, in ``bench/merge_sim.py`` and on a cluster.
    """
    level, depth = list(items), 0
    while len(level) > REDUCE_FANIN:
        level = [node(level[i:i + REDUCE_FANIN], depth, i) for i in range(0, len(level), REDUCE_FANIN)]
        depth += 1
    return level


def register(cls: type["MergeRule"]) -> type["MergeRule"]:
    RULES[cls.name] = cls
    return cls


_TRAIN_DEFAULTS = TrainConfig()


@dataclass(frozen=True)
class RuleSettings:
    """The ``[train]`` keys rules read; each rule uses the ones it documents.

    Defaults and bounds are the keys' own, declared on :class:`TrainConfig`
    and checked by :meth:`Config.validate`.
    """

    lr_scale: float = _TRAIN_DEFAULTS.lr_scale  # 0: the rule's own default multiplier
    rounds_per_epoch: int = _TRAIN_DEFAULTS.rounds_per_epoch  # 0: the rule's own default
    momentum: float = _TRAIN_DEFAULTS.momentum  # block momentum's eta; negative: 1 - 1/shards
    block_lr: float = _TRAIN_DEFAULTS.block_lr  # block momentum's zeta

    @classmethod
    def from_config(cls, train: TrainConfig) -> RuleSettings:
        return cls(lr_scale=train.lr_scale, rounds_per_epoch=train.rounds_per_epoch, momentum=train.momentum,
                   block_lr=train.block_lr)


class MergeRule(ABC):
    """One way of combining shard models; see the module docstring for the contract."""

    name: ClassVar[str]
    summary: ClassVar[str]
    exchange: ClassVar[str]  # "weights" or "deltas"
    periodic: ClassVar[bool] = True
    stateful: ClassVar[bool] = False  # keeps state between rounds (delta rules: combined once, at the tree's root)
    # The most shards at which the rule was measured to keep one model's quality (docs/scaling.md).
    measured_shards: ClassVar[int] = 1

    def __init__(self, settings: RuleSettings = RuleSettings()) -> None:
        self.settings = settings

    def lr_multiplier(self, n_shards: int) -> float:
        """The factor on every shard's learning rate; ``train.lr_scale`` overrides the rule's default.

        Rules that merge once (``periodic`` False) train at gensim's own rate: the plan ignores this.
        """
        return self.settings.lr_scale or self.default_lr_multiplier(n_shards)

    def default_lr_multiplier(self, n_shards: int) -> float:
        return 1.0

    def rounds_per_epoch(self, n_shards: int) -> int:
        """Merges per epoch (for ``periodic`` rules); ``train.rounds_per_epoch`` overrides the rule's default."""
        return self.settings.rounds_per_epoch or self.default_rounds_per_epoch(n_shards)

    def default_rounds_per_epoch(self, n_shards: int) -> int:
        return DEFAULT_ROUNDS_PER_EPOCH

    def min_merges(self, n_shards: int) -> int:
        """The fewest merges in a run with which the rule was measured to keep one model's quality at
        ``n_shards`` (0: none measured to matter)."""
        return 0

    def describe(self, state: Any) -> dict[str, Any]:
        """Small figures about the rule's state for the progress line and the report."""
        return {}


class WeightRule(MergeRule):
    """Rules over whole shard models: each shard sends its weights, the tree sums them (weighted)."""

    exchange = "weights"
    row_weighted: ClassVar[bool] = False  # weight each word's rows by its count in the shard
    rotates: ClassVar[bool] = False  # rotate every shard onto shard 0's frequent words first (Procrustes)


@register
class Periodic(WeightRule):
    name = "periodic"
    summary = "average every round, local learning rate x shards (holds quality up to about 8 shards)"
    measured_shards = 8

    def default_lr_multiplier(self, n_shards: int) -> float:
        return float(n_shards)


@register
class Average(WeightRule):
    name = "average"
    summary = "train shards independently, then one count-weighted average"
    periodic = False
    row_weighted = True


@register
class Procrustes(WeightRule):
    name = "procrustes"
    summary = "train shards independently, rotate onto shard 0, then one count-weighted average"
    periodic = False
    row_weighted = True
    rotates = True


class DeltaRule(MergeRule):
    """Rules over sparse row deltas; stateless unless ``step`` keeps state."""

    exchange = "deltas"

    @abstractmethod
    def pair(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Two aligned blocks of rows both sides touched (float32) into one new block.

        A row only one side touched is passed on unchanged without calling
        this, so a rule must satisfy ``pair(x, 0) == x``.
        """

    def combine(self, group: list[Delta], dtype: str = "float32") -> Delta:
        """One node of the tree: its parts combined in order, encoded as they will travel."""
        total = group[0]
        for part in group[1:]:
            total = combine(total, part, self.pair)
        return total.encoded(dtype)

    def reduce(self, parts: list[Delta], dtype: str = "float32") -> Delta:
        """Parts combined in the Dask job's tree order (:func:`reduce_tree`): inner nodes encoded as ``dtype``,
        as they travel between workers; the root's result in float32."""
        top = reduce_tree(parts, lambda group, level, i: self.combine(group, dtype))
        return self.combine(top)

    def step(self, total: Delta, n_shards: int, state: Any) -> tuple[Delta, Any]:
        """The update every worker adds to its model, and the state kept for the next round."""
        return total, state

    def finish(self, total: Delta, n_shards: int, state: Any) -> Delta:
        """The update after the last round: what turns the last start into the final model."""
        return self.step(total, n_shards, state)[0]


@register
class AdaSum(DeltaRule):
    name = "adasum"
    summary = ("per-row adaptive sum: parallel deltas averaged, orthogonal ones summed "
               "(Maleki et al. 2021), local learning rate x log2(shards), from 2 to 4")
    measured_shards = 128

    def default_lr_multiplier(self, n_shards: int) -> float:
        return adasum_lr_multiplier(n_shards)

    def default_rounds_per_epoch(self, n_shards: int) -> int:
        return adasum_rounds_per_epoch(n_shards)

    def min_merges(self, n_shards: int) -> int:
        return adasum_min_merges(n_shards)

    def pair(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return adasum_pair(a, b)


# Up to this many shards adasum merges once per epoch, as Spark MLlib's Word2Vec does: two shards lose no
# quality with it and the merges are what they cost beyond gensim's own speed (docs/scaling.md).
ADASUM_RARE_MERGE_SHARDS = 2
# Beyond this many shards adasum's quality follows the number of merges in the run: at 128 shards it held one
# model's quality with ADASUM_MIN_MERGES merges (10 per epoch for 5 epochs, or 5 for 10), not with half as many.
ADASUM_MANY_SHARDS = 64
ADASUM_MIN_MERGES = 50
# Merges per epoch of adasum by shard count where the plain interval (DEFAULT_ROUNDS_PER_EPOCH) did not hold one
# model's quality and another did (docs/scaling.md): twice as often from 17 to 32 shards, 1.5 times from 33 to
# the most shards measured (128).
ADASUM_MERGES_PER_EPOCH = {range(17, 33): 2 * DEFAULT_ROUNDS_PER_EPOCH,
                           range(33, AdaSum.measured_shards + 1): 3 * DEFAULT_ROUNDS_PER_EPOCH // 2}
# The most adasum multiplies a shard's learning rate by: beyond it a shard's own SGD loses quality and then
# diverges (docs/scaling.md has the measurements).
ADASUM_MAX_LR_MULTIPLIER = 4.0


def adasum_lr_multiplier(n_shards: int) -> float:
    """log2(shards), at least 2 and at most ADASUM_MAX_LR_MULTIPLIER.

    Deltas that agree (frequent words, whose rows every shard moves the same
    way) are averaged, not summed, so they need a larger local rate; rare
    words' deltas are summed and need none. The rate grows slowly because a
    shard's own SGD becomes unstable when it is large (docs/scaling.md has
    the measurements, the ceiling included).
    """
    return min(ADASUM_MAX_LR_MULTIPLIER, max(2.0, float(np.log2(max(n_shards, 1)))))


def adasum_rounds_per_epoch(n_shards: int) -> int:
    """Once per epoch at 2 shards, ADASUM_MERGES_PER_EPOCH from 17 to 128, else the plain interval.

    The best interval measured at each shard count, not a law: 2 shards
    merged once per epoch keep one model's quality (WordSim353 and
    SimLex-999 above 5 merges', analogy 0.008 under them, 3 seeds) and
    train at gensim's own speed; at 32 shards merging
    twice as often is what kept one model's quality; at 64, twice as often
    lost more than it gained and the plain interval missed analogy by 0.003,
    while 1.5 times as often held with a margin; at 128 shards the plain
    interval held on an older shard layout and missed on today's (one seed),
    where 1.5 times as often held with a margin (two seeds; docs/scaling.md
    has the runs).
    """
    if n_shards <= ADASUM_RARE_MERGE_SHARDS:
        return 1
    return next((merges for shards, merges in ADASUM_MERGES_PER_EPOCH.items() if n_shards in shards),
                DEFAULT_ROUNDS_PER_EPOCH)


def adasum_min_merges(n_shards: int) -> int:
    """ADASUM_MIN_MERGES beyond ADASUM_MANY_SHARDS shards, else 0.

    Why the count of merges: AdaSum averages what the shards' deltas agree
    on, so beyond some number of shards a merged round moves the model about
    as far as a round of fewer shards would; more shards then do not make up
    for fewer merges, as a larger batch stops helping SGD past its critical
    size. 128 shards on the benchmark corpus held one model's quality with 50
    merges in 5 epochs (10 per epoch) and missed it with 25 (5 per epoch);
    4 to 64 shards held with their default 50 or more, 2 shards with 5
    (docs/scaling.md).
    """
    return ADASUM_MIN_MERGES if n_shards > ADASUM_MANY_SHARDS else 0


def adasum_pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(1 - a.b / 2|a|^2) a + (1 - a.b / 2|b|^2) b, row by row; a zero row leaves the other unchanged."""
    dot = np.einsum("ij,ij->i", a, b)
    na, nb = np.einsum("ij,ij->i", a, a), np.einsum("ij,ij->i", b, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        ca = np.where(na > 0, 1.0 - dot / (2.0 * na), 1.0).astype(np.float32)
        cb = np.where(nb > 0, 1.0 - dot / (2.0 * nb), 1.0).astype(np.float32)
    out = a * ca[:, None]
    out += b * cb[:, None]
    return out


def _sum_pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + b


@register
class TouchedAverage(DeltaRule):
    name = "touched"
    summary = "per-row mean of the deltas of the shards that touched the row (FedSubAvg, SPARK-24666)"

    def pair(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _sum_pair(a, b)

    def step(self, total: Delta, n_shards: int, state: Any) -> tuple[Delta, Any]:
        return Delta(_per_hit(total.vectors), _per_hit(total.output)), state


def _per_hit(rows: Rows) -> Rows:
    return Rows(rows.index, rows.as_float32() / np.maximum(rows.hits, 1)[:, None].astype(np.float32), rows.hits)


@register
class BlockMomentum(DeltaRule):
    name = "bmuf"
    summary = ("block momentum (BMUF, Chen & Huo 2016; SlowMo): D <- eta D + zeta mean(delta), "
               "Nesterov start; eta = 1 - 1/shards by default")
    stateful = True

    def pair(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _sum_pair(a, b)

    def eta(self, n_shards: int) -> float:
        return self.settings.momentum if self.settings.momentum >= 0 else 1.0 - 1.0 / n_shards

    def step(self, total: Delta, n_shards: int, state: dict[str, np.ndarray] | None
             ) -> tuple[Delta, dict[str, np.ndarray]]:
        """G = mean(W_k) - S; D' = eta D + zeta G; W' = W + D'; next start S' = W' + eta D'.

        With S = W + eta D the update S' - S is (1 + eta) D' - eta D, dense
        over every row momentum has reached. The state is D of each matrix.
        """
        eta, zeta = self.eta(n_shards), self.settings.block_lr
        parts = {name: _momentum_update(getattr(total, name), (state or {}).get(name), n_shards, eta, zeta)
                 for name in ("vectors", "output")}
        return (Delta(parts["vectors"][0], parts["output"][0]),
                {name: momentum for name, (_, momentum) in parts.items()})

    def finish(self, total: Delta, n_shards: int, state: dict[str, np.ndarray] | None) -> Delta:
        """W_T - S_T = D_T - eta D_(T-1) = zeta G_T: the block model itself, not the Nesterov look-ahead."""
        zeta = np.float32(self.settings.block_lr / n_shards)
        return Delta(*(Rows(r.index, r.as_float32() * zeta, r.hits) for r in (total.vectors, total.output)))

    def describe(self, state: dict[str, np.ndarray] | None) -> dict[str, Any]:
        if not state:
            return {}
        squares = sum(float(np.square(m, dtype=np.float64).sum()) for m in state.values())
        return {"momentum_norm": round(squares ** 0.5, 4)}


def _momentum_update(total: Rows, previous: np.ndarray | None, n_shards: int, eta: float,
                     zeta: float) -> tuple[Rows, np.ndarray]:
    """One matrix's update and new momentum; momentum is kept dense over the rows reached so far."""
    reached = 0 if previous is None else previous.shape[0]
    rows = max(reached, int(total.index.max()) + 1 if len(total.index) else 0)
    old = np.zeros((rows, total.values.shape[1]), np.float32)
    if previous is not None:
        old[:reached] = previous
    new = old * np.float32(eta)
    new[total.index] += total.as_float32() * np.float32(zeta / n_shards)
    update = new * np.float32(1.0 + eta) - old * np.float32(eta)
    index = np.flatnonzero(update.any(axis=1)).astype(np.int32)
    return Rows(index, update[index], np.ones(len(index), np.int32)), new


DEFAULT_RULE = _TRAIN_DEFAULTS.merge


def quality_warning(rule: MergeRule, n_shards: int, epochs: int, rounds_per_epoch: int) -> str | None:
    """A warning when a run has more shards, or fewer merges, than its rule was measured to keep one model's
    quality with."""
    if not rule.periodic:
        return None
    if n_shards > rule.measured_shards:
        held = (f"was measured to keep one model's quality up to {rule.measured_shards} shards"
                if rule.measured_shards > 1 else "was not measured to keep one model's quality beyond one shard")
        other = "" if rule.name == DEFAULT_RULE else f"--merge {DEFAULT_RULE} or "
        return (f"merge rule {rule.name} {held}, and this run has {n_shards} (docs/scaling.md); use {other}fewer "
                "shards (prepare.shards), and check the evaluation")
    needed, merges = rule.min_merges(n_shards), epochs * rounds_per_epoch
    if merges >= needed:
        return None
    return (f"merge rule {rule.name} was measured to keep one model's quality at {n_shards} shards only with at "
            f"least {needed} merges, and this run has {merges} ({epochs} epochs x {rounds_per_epoch}); raise "
            f"train.epochs to {-(-needed // rounds_per_epoch)} or use fewer shards (prepare.shards) "
            "(docs/scaling.md), and check the evaluation")


def make_rule(name: str, settings: RuleSettings = RuleSettings()) -> MergeRule:
    """The rule registered as ``name``, with ``settings``.

    ``train.merge`` and the settings' keys are checked where they are declared
    (:class:`TrainConfig`); this refuses only a name that is not registered,
    for callers that pass one without a config (benches, tests).
    """
    try:
        return RULES[name](settings)
    except KeyError:
        raise ConfigError(f"merge rule must be one of {', '.join(RULES)}; got {name!r}") from None

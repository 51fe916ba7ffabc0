"""Rounds and the learning-rate schedule of a sharded run.

The learning rate decays linearly from ``alpha`` to ``min_alpha`` once across
the whole run, as in a single gensim model: round ``r`` of ``R`` trains from
``alpha_at(r/R)`` to ``alpha_at((r+1)/R)``, multiplied by ``lr_scale`` while
periodic averaging would otherwise shrink every update by the number of shards.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Round:
    index: int
    epoch: int
    chunk: int  # which part of each shard this round trains on
    epochs: int  # passes over that part within the round
    start_alpha: float
    end_alpha: float


def linear_alpha(alpha: float, min_alpha: float, progress: float) -> float:
    return alpha - (alpha - min_alpha) * progress


def periodic_rounds(epochs: int, rounds_per_epoch: int, alpha: float, min_alpha: float,
                    lr_scale: float) -> list[Round]:
    total = epochs * rounds_per_epoch
    return [
        Round(index=r, epoch=r // rounds_per_epoch, chunk=r % rounds_per_epoch, epochs=1,
              start_alpha=lr_scale * linear_alpha(alpha, min_alpha, r / total),
              end_alpha=lr_scale * linear_alpha(alpha, min_alpha, (r + 1) / total))
        for r in range(total)
    ]


# The most shards periodic averaging was measured to keep its quality at (docs/scaling.md: analogy
# accuracy 0.264 at 2 shards, 0.241 at 8, 0.067 at 16 on the 16.6M-token benchmark corpus).
MEASURED_SHARDS = 8


def shard_count_warning(n_shards: int) -> str | None:
    """A warning for periodic runs beyond the shard counts whose quality was measured, else None."""
    if n_shards <= MEASURED_SHARDS:
        return None
    return (f"periodic averaging over {n_shards} shards is beyond what was measured to work: at 16 shards "
            f"analogy accuracy fell to 0.067 (0.264 at 2, 0.241 at 8; docs/scaling.md). Prefer "
            f"<= {MEASURED_SHARDS} shards (prepare.shards), or more rounds per epoch, and check the evaluation")


def single_round(epochs: int, alpha: float, min_alpha: float) -> list[Round]:
    """Independent training: one round holding every epoch over the whole shard."""
    return [Round(index=0, epoch=0, chunk=0, epochs=epochs, start_alpha=alpha, end_alpha=min_alpha)]

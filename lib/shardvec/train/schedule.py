"""Rounds and the learning-rate schedule of a sharded run.

The learning rate decays linearly from ``alpha`` to ``min_alpha`` once across
the whole run, as in a single gensim model: round ``r`` of ``R`` trains from
``alpha_at(r/R)`` to ``alpha_at((r+1)/R)``, multiplied by the merge rule's
local learning-rate multiplier (``lr_scale``).
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


def rounds_per_epoch_for(shard_tokens: int, sync_words: int) -> int:
    """Merges per epoch so that each shard trains about ``sync_words`` words between two (at least one)."""
    return max(1, round(shard_tokens / sync_words))


def single_round(epochs: int, alpha: float, min_alpha: float) -> list[Round]:
    """Independent training: one round holding every epoch over the whole shard."""
    return [Round(index=0, epoch=0, chunk=0, epochs=epochs, start_alpha=alpha, end_alpha=min_alpha)]
